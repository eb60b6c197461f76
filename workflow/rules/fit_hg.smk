rule fit_hg:
    output:
        bank="results/{experiment}/fit_hg/hg_bank.safetensors",
        errors="results/{experiment}/fit_hg/hg_errors.csv",
        metrics="results/{experiment}/fit_hg/metrics.json",
    log:
        "logs/fit_hg/{experiment}.log",
    conda:
        "../../environment.yml"
    params:
        overrides=lambda w: f"output_dir=results/{w.experiment}/fit_hg",
    shell:
        "python -m las.fit_hg {params.overrides} > {log} 2>&1"
