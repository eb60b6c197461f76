rule collect:
    input:
        confs=stage_confs(
            "collect", "model/{model}", "data/embedded_prose", "conversion/default"
        ),
        manifest="results/{experiment}/{model}/download/manifest.json",
    output:
        stats="results/{experiment}/{model}/collect/stats.safetensors",
        sites="results/{experiment}/{model}/collect/sites.csv",
        record="results/{experiment}/{model}/collect/metrics.json",
    log:
        "logs/collect/{experiment}/{model}.log",
    benchmark:
        "results/{experiment}/benchmarks/collect/{model}.tsv"
    priority: larger_models_first(2)  # on the way to the longest jobs (evaluate_tasks)
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("collect"),
    params:
        extra=extra("collect"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, output: (
            f"model={w.model} experiment={w.experiment} "
            f"output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.collect {params.overrides} {params.extra} > {log} 2>&1"
