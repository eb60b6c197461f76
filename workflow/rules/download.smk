rule download:
    input:
        stage_confs("download", "model/{model}", "assets"),
    output:
        manifest="results/{experiment}/{model}/download/manifest.json",
        record="results/{experiment}/{model}/download/metrics.json",
    log:
        "logs/download/{experiment}/{model}.log",
    benchmark:
        "results/{experiment}/benchmarks/download/{model}.tsv"
    priority: larger_models_first(2)  # on the way to the longest jobs (evaluate_tasks)
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("download"),
    params:
        extra=extra("download"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, output: (
            f"model={w.model} experiment={w.experiment} "
            f"output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.download {params.overrides} {params.extra} > {log} 2>&1"
