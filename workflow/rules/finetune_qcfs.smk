rule finetune_qcfs:
    input:
        confs=stage_confs(
            "finetune_qcfs",
            "model/{model}",
            "data/embedded_prose",
            "finetune/embedded",
        ),
        manifest="results/{experiment}/{model}/download/manifest.json",
    output:
        weights="results/{experiment}/{model}/finetune_qcfs/weights.safetensors",
        curve="results/{experiment}/{model}/finetune_qcfs/loss_curve.csv",
        sites="results/{experiment}/{model}/finetune_qcfs/qcfs_sites.csv",
        record="results/{experiment}/{model}/finetune_qcfs/metrics.json",
    log:
        "logs/finetune_qcfs/{experiment}/{model}.log",
    benchmark:
        "results/{experiment}/benchmarks/finetune_qcfs/{model}.tsv"
    priority: larger_models_first(2)  # the head of the FAS chain (four jobs in a row)
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("finetune_qcfs"),
    params:
        extra=extra("finetune_qcfs"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, output: (
            f"model={w.model} experiment={w.experiment} "
            f"output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.finetune_qcfs {params.overrides} {params.extra} > {log} 2>&1"
