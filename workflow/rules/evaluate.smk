rule evaluate:
    input:
        confs=stage_confs("evaluate", "model/{model}", "conversion/default"),
        thresholds="results/{experiment}/{model}/calibrate/{calibration}/thresholds.safetensors",
        bank="results/{experiment}/{model}/fit_hg/hg_bank.safetensors",
    output:
        fidelity="results/{experiment}/{model}/evaluate/{calibration}/fidelity.csv",
        spikes="results/{experiment}/{model}/evaluate/{calibration}/spikes.csv",
        metrics="results/{experiment}/{model}/evaluate/{calibration}/metrics.json",
    log:
        "logs/evaluate/{experiment}/{model}/{calibration}.log",
    conda:
        "../../environment.yml"
    params:
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} calibration={w.calibration} "
            f"thresholds={input.thresholds} bank={input.bank} "
            f"output_dir={os.path.dirname(output.fidelity)}"
        ),
    shell:
        "python -m las.evaluate {params.overrides} > {log} 2>&1"
