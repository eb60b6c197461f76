rule evaluate_probe:
    input:
        confs=stage_confs("evaluate_probe", "model/{model}"),
        converted="results/{experiment}/{model}/convert/{calibration}/{ablation}/converted.json",
    output:
        rows="results/{experiment}/{model}/evaluate_probe/{calibration}/{ablation}/tasks.csv",
        record="results/{experiment}/{model}/evaluate_probe/{calibration}/{ablation}/metrics.json",
    log:
        "logs/evaluate_probe/{experiment}/{model}/{calibration}/{ablation}.log",
    benchmark:
        "results/{experiment}/benchmarks/evaluate_probe/{model}/{calibration}/{ablation}.tsv"
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("evaluate_probe"),
    params:
        extra=extra("evaluate_probe"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} "
            f"converted={os.path.dirname(input.converted)} "
            f"output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.evaluate_probe {params.overrides} {params.extra} > {log} 2>&1"
