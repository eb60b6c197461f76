rule convert:
    input:
        confs=stage_confs(
            "convert",
            "model/{model}",
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
    conda:
        "../../environment.yml"
    params:
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} calibration={w.calibration} "
            f"ablation={w.ablation} thresholds={input.thresholds} bank={input.bank} "
            f"output_dir={os.path.dirname(output.record)} {extra('convert')}"
        ),
    shell:
        "python -m las.convert {params.overrides} > {log} 2>&1"
