rule evaluate_vlm_tasks:
    input:
        confs=stage_confs(
            "evaluate_vlm_tasks",
            "model/{model}",
            "method/{method}",
            "task/{task}",
            "conversion/default",
            "calibration/mse",
        ),
        download="results/{experiment}/{model}/download/metrics.json",
    output:
        rows="results/{experiment}/{model}/evaluate_vlm_tasks/{method}/{task}/tasks.csv",
        record="results/{experiment}/{model}/evaluate_vlm_tasks/{method}/{task}/metrics.json",
    log:
        "logs/evaluate_vlm_tasks/{experiment}/{model}/{method}/{task}.log",
    benchmark:
        "results/{experiment}/benchmarks/evaluate_vlm_tasks/{model}/{method}/{task}.tsv"
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("evaluate_vlm_tasks"),
    params:
        python=lambda w: harness_python(w.task),
        extra=extra("evaluate_vlm_tasks"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, output: (
            f"model={w.model} experiment={w.experiment} method={w.method} task={w.task} "
            f"output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "{params.python} -m las.evaluate_vlm_tasks {params.overrides} {params.extra} > {log} 2>&1"
