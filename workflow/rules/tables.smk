rule tables:
    input:
        records=evaluate_outputs("metrics.json"),
        tasks=task_records(),
        vqa=vqa_records(),
        spikes=full_spikes(),
        hg=expand(
            "results/{e}/{m}/fit_hg/hg_errors.csv",
            e=config["experiment"],
            m=config["models"],
        ),
    output:
        [f"reports/{t}.{ext}" for t in REPORT_TABLES for ext in ("csv", "md", "tex")],
    log:
        "logs/tables.log",
    conda:
        "../../environment.yml"
    params:
        fit_hg=lambda w, input: [os.path.dirname(p) for p in input.hg],
    shell:
        "python -m las.tables --out reports --tasks {input.tasks} --vqa {input.vqa} "
        "--spikes {input.spikes} "
        "--fit-hg {params.fit_hg} -- {input.records} > {log} 2>&1"


rule figures:
    input:
        records=evaluate_outputs("metrics.json"),
        spikes=full_spikes(),
        thresholds=expand(
            "results/{e}/{m}/calibrate/mse/thresholds.csv",
            e=config["experiment"],
            m=config["models"],
        ),
    output:
        figure_names(),
    log:
        "logs/figures.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m las.figures --out reports/figures --evaluate {input.records} "
        "--spikes {input.spikes} --thresholds {input.thresholds} > {log} 2>&1"
