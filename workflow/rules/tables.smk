rule tables:
    input:
        fidelity=expand(
            "results/{experiment}/{model}/evaluate/{calibration}/fidelity.csv",
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
        "python -m las.tables --out reports {input.fidelity} > {log} 2>&1"
