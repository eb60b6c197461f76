rule evaluate_tasks:
    input:
        confs=stage_confs(
            "evaluate_tasks",
            "model/{model}",
            "method/{method}",
            "task/{task}",
            "conversion/default",
        ),
        thresholds="results/{experiment}/{model}/calibrate/mse/thresholds.safetensors",
        bank="results/{experiment}/{model}/fit_hg/hg_bank.safetensors",
    output:
        rows="results/{experiment}/{model}/evaluate_tasks/{method}/{task}/tasks.csv",
        metrics="results/{experiment}/{model}/evaluate_tasks/{method}/{task}/metrics.json",
    log:
        "logs/evaluate_tasks/{experiment}/{model}/{method}/{task}.log",
    conda:
        "../../environment.yml"
    params:
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} method={w.method} task={w.task} "
            f"thresholds={input.thresholds} bank={input.bank} "
            f"output_dir={os.path.dirname(output.rows)} {extra('evaluate_tasks')}"
        ),
    shell:
        "python -m las.evaluate_tasks {params.overrides} > {log} 2>&1"
