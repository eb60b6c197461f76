rule collect:
    input:
        confs=stage_confs(
            "collect", "model/{model}", "data/embedded_prose", "conversion/default"
        ),
        manifest="results/{experiment}/{model}/download/manifest.json",
    output:
        stats="results/{experiment}/{model}/collect/stats.safetensors",
        sites="results/{experiment}/{model}/collect/sites.csv",
    log:
        "logs/collect/{experiment}/{model}.log",
    conda:
        "../../environment.yml"
    params:
        overrides=lambda w: (
            f"model={w.model} experiment={w.experiment} "
            f"output_dir=results/{w.experiment}/{w.model}/collect {extra('collect')}"
        ),
    shell:
        "python -m las.collect {params.overrides} > {log} 2>&1"
