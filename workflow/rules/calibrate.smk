rule calibrate:
    input:
        confs=stage_confs(
            "calibrate",
            "model/{model}",
            "calibration/{calibration}",
            "conversion/default",
        ),
        stats="results/{experiment}/{model}/collect/stats.safetensors",
    output:
        thresholds="results/{experiment}/{model}/calibrate/{calibration}/thresholds.safetensors",
        table="results/{experiment}/{model}/calibrate/{calibration}/thresholds.csv",
        record="results/{experiment}/{model}/calibrate/{calibration}/metrics.json",
    log:
        "logs/calibrate/{experiment}/{model}/{calibration}.log",
    benchmark:
        "results/{experiment}/benchmarks/calibrate/{model}/{calibration}.tsv"
    priority: larger_models_first(2)  # on the way to the longest jobs (evaluate_tasks)
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("calibrate"),
    params:
        extra=extra("calibrate"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} calibration={w.calibration} "
            f"stats={input.stats} output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.calibrate {params.overrides} {params.extra} > {log} 2>&1"
