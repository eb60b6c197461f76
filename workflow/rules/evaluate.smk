rule evaluate:
    input:
        confs=stage_confs("evaluate", "model/{model}", "conversion/default"),
        thresholds="results/{experiment}/{model}/calibrate/{calibration}/thresholds.safetensors",
        bank="results/{experiment}/{model}/fit_hg/hg_bank.safetensors",
    output:
        fidelity="results/{experiment}/{model}/evaluate/{calibration}/fidelity.csv",
        spikes="results/{experiment}/{model}/evaluate/{calibration}/spikes.csv",
    log:
        "logs/evaluate/{experiment}/{model}/{calibration}.log",
    conda:
        "../../environment.yml"
    params:
        overrides=lambda w, input, output: (
            f"model={w.model} calibration={w.calibration} thresholds={input.thresholds} "
            f"bank={input.bank} output_dir={os.path.dirname(output.fidelity)}"
        ),
    shell:
        "python -m las.evaluate {params.overrides} > {log} 2>&1"
