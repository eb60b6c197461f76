rule tables:
    input:
        records=expand(
            "results/{experiment}/{model}/evaluate/{calibration}/metrics.json",
            experiment=config["experiment"],
            model=config["models"],
            calibration=config["calibrations"],
        ),
    output:
        markdown="reports/fidelity.md",
        csv="reports/fidelity.csv",
        latex="reports/fidelity.tex",
    log:
        "logs/tables/fidelity.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m las.tables --out reports {input.records} > {log} 2>&1"
