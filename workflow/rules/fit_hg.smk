rule fit_hg:
    input:
        confs=stage_confs("fit_hg", "model/{model}", "hg/default"),
        stats="results/{experiment}/{model}/collect/stats.safetensors",
    output:
        bank="results/{experiment}/{model}/fit_hg/hg_bank.safetensors",
        errors="results/{experiment}/{model}/fit_hg/hg_errors.csv",
        sample_errors="results/{experiment}/{model}/fit_hg/hg_sample_errors.csv",
        record="results/{experiment}/{model}/fit_hg/metrics.json",
    log:
        "logs/fit_hg/{experiment}/{model}.log",
    benchmark:
        "results/{experiment}/benchmarks/fit_hg/{model}.tsv"
    priority: larger_models_first(2)  # on the way to the longest jobs (evaluate_tasks)
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("fit_hg"),
    params:
        extra=extra("fit_hg"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} stats={input.stats} "
            f"output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.fit_hg {params.overrides} {params.extra} > {log} 2>&1"
