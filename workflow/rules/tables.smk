rule tables:
    input:
        records=evaluate_outputs("metrics.json"),
        tasks=task_records(),
        probes=probe_records(),
        glue=glue_records(),
        vlm_tasks=vlm_task_records(),
        vqa=vqa_records(),
        spikes=full_spikes(),
        hg=fit_hg_outputs("hg_errors.csv"),
        hg_samples=fit_hg_outputs("hg_sample_errors.csv"),
        finetune=[r for r in fas_records() if "finetune_qcfs" in r],
    output:
        report_tables(),
    log:
        f"logs/tables/{config['experiment']}.log",
    benchmark:
        f"results/{config['experiment']}/benchmarks/tables.tsv"
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("tables"),
    params:
        out=lambda w, output: os.path.dirname(output[0]),
        fit_hg=lambda w, input: [os.path.dirname(p) for p in input.hg],
    shell:
        "python -m las.tables --out {params.out} --tasks {input.tasks} --probes {input.probes} "
        "--glue {input.glue} --vlm-tasks {input.vlm_tasks} "
        "--vqa {input.vqa} "
        "--spikes {input.spikes} --finetune {input.finetune} "
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
        rasters=raster_outputs("raster.csv"),
    output:
        figure_names(),
    log:
        f"logs/figures/{config['experiment']}.log",
    benchmark:
        f"results/{config['experiment']}/benchmarks/figures.tsv"
    conda:
        "../../environment.yml"
    # the last job: its figures are drawn two at a time, on the cores the other jobs left
    threads: 2
    resources:
        **stage_resources("figures"),
    params:
        out=lambda w, output: os.path.dirname(output[0]),
    shell:
        "python -m las.figures --out {params.out} --evaluate {input.records} "
        "--spikes {input.spikes} --thresholds {input.thresholds} --rasters {input.rasters} "
        "--jobs {threads} > {log} 2>&1"
