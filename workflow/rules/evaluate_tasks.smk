rule evaluate_tasks:
    input:
        confs=stage_confs(
            "evaluate_tasks", "model/{model}", "method/{method}", "task/{task}"
        ),
        converted=lambda w: run_dir(
            w.model, "convert", convert_folder(w.method), w.variant, "converted.json"
        ),
    output:
        rows="results/{experiment}/{model}/evaluate_tasks/{method}/{variant}/{task}/tasks.csv",
        record="results/{experiment}/{model}/evaluate_tasks/{method}/{variant}/{task}/metrics.json",
    log:
        "logs/evaluate_tasks/{experiment}/{model}/{method}/{variant}/{task}.log",
    benchmark:
        "results/{experiment}/benchmarks/evaluate_tasks/{model}/{method}/{variant}/{task}.tsv"
    priority: larger_models_first(2)  # on the way to the longest jobs (evaluate_tasks)
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("evaluate_tasks"),
    params:
        extra=extra("evaluate_tasks"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} method={w.method} task={w.task} "
            f"converted={os.path.dirname(input.converted)} "
            f"output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.evaluate_tasks {params.overrides} {params.extra} > {log} 2>&1"
