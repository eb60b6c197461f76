rule evaluate:
    input:
        confs=stage_confs(
            "evaluate",
            "model/{model}",
            "conversion/default",
            "ablation/{ablation}",
            "energy/default",
        ),
        thresholds="results/{experiment}/{model}/calibrate/{calibration}/thresholds.safetensors",
        bank="results/{experiment}/{model}/fit_hg/hg_bank.safetensors",
    output:
        fidelity="results/{experiment}/{model}/evaluate/{calibration}/{ablation}/fidelity.csv",
        spikes="results/{experiment}/{model}/evaluate/{calibration}/{ablation}/spikes.csv",
        metrics="results/{experiment}/{model}/evaluate/{calibration}/{ablation}/metrics.json",
    log:
        "logs/evaluate/{experiment}/{model}/{calibration}/{ablation}.log",
    conda:
        "../../environment.yml"
    params:
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} calibration={w.calibration} "
            f"ablation={w.ablation} thresholds={input.thresholds} bank={input.bank} "
            f"output_dir={os.path.dirname(output.fidelity)} {extra('evaluate')}"
        ),
    shell:
        "python -m las.evaluate {params.overrides} > {log} 2>&1"
