rule convert:
    input:
        confs=stage_confs(
            "convert",
            "model/{model}",
            "method/las",
            "conversion/default",
            "calibration/{calibration}",
            "ablation/{ablation}",
        ),
        thresholds="results/{experiment}/{model}/calibrate/{calibration}/thresholds.safetensors",
        bank="results/{experiment}/{model}/fit_hg/hg_bank.safetensors",
    output:
        manifest="results/{experiment}/{model}/convert/{calibration}/{ablation}/converted.json",
        thresholds="results/{experiment}/{model}/convert/{calibration}/{ablation}/thresholds.safetensors",
        bank="results/{experiment}/{model}/convert/{calibration}/{ablation}/hg_bank.safetensors",
        record="results/{experiment}/{model}/convert/{calibration}/{ablation}/metrics.json",
    log:
        "logs/convert/{experiment}/{model}/{calibration}/{ablation}.log",
    benchmark:
        "results/{experiment}/benchmarks/convert/{model}/{calibration}/{ablation}.tsv"
    wildcard_constraints:
        calibration=r"mse(_\w+)?|quantile|fixed",
    priority: larger_models_first(2)  # on the way to the longest jobs (evaluate_tasks)
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("convert"),
    params:
        extra=extra("convert"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} calibration={w.calibration} "
            f"ablation={w.ablation} thresholds={input.thresholds} bank={input.bank} "
            f"output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.convert {params.overrides} {params.extra} > {log} 2>&1"


# The baselines' folders (METHOD.md M9, M10): the same stage, by method, per T.
rule convert_baseline:
    input:
        unpack(baseline_inputs),
        confs=stage_confs(
            "convert",
            "model/{model}",
            "method/{method}",
            "conversion/default",
            "ablation/T{T}",
        ),
    output:
        manifest="results/{experiment}/{model}/convert/{method}/T{T}/converted.json",
        record="results/{experiment}/{model}/convert/{method}/T{T}/metrics.json",
    log:
        "logs/convert/{experiment}/{model}/{method}/T{T}.log",
    benchmark:
        "results/{experiment}/benchmarks/convert/{model}/{method}/T{T}.tsv"
    wildcard_constraints:
        method="fas|naive",
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("convert"),
    params:
        extra=extra("convert"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} method={w.method} ablation=T{w.T} "
            + " ".join(f"{k}={v}" for k, v in input.items() if k != "confs")
            + f" output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.convert {params.overrides} {params.extra} > {log} 2>&1"
