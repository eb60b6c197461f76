rule download:
    input:
        stage_confs("download", "model/{model}", "assets"),
    output:
        manifest="results/{experiment}/{model}/download/manifest.json",
    log:
        "logs/download/{experiment}/{model}.log",
    conda:
        "../../environment.yml"
    params:
        overrides=lambda w: (
            f"model={w.model} experiment={w.experiment} "
            f"output_dir=results/{w.experiment}/{w.model}/download {extra('download')}"
        ),
    shell:
        "python -m las.download {params.overrides} > {log} 2>&1"
