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
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} "
            f"converted={os.path.dirname(input.converted)} "
            f"output_dir={os.path.dirname(output.record)} {extra('evaluate_probe')}"
        ),
    shell:
        "python -m las.evaluate_probe {params.overrides} > {log} 2>&1"
