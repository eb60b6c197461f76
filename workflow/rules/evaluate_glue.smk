rule evaluate_glue:
    input:
        confs=stage_confs("evaluate_glue", "model/{model}", "glue/{glue}"),
        converted="results/{experiment}/{model}/convert/{calibration}/{ablation}/converted.json",
    output:
        rows="results/{experiment}/{model}/evaluate_glue/{calibration}/{ablation}/{glue}/glue.csv",
        record="results/{experiment}/{model}/evaluate_glue/{calibration}/{ablation}/{glue}/metrics.json",
    log:
        "logs/evaluate_glue/{experiment}/{model}/{calibration}/{ablation}/{glue}.log",
    benchmark:
        "results/{experiment}/benchmarks/evaluate_glue/{model}/{calibration}/{ablation}/{glue}.tsv"
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("evaluate_glue"),
    params:
        extra=extra("evaluate_glue"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} glue={w.glue} "
            f"converted={os.path.dirname(input.converted)} "
            f"output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.evaluate_glue {params.overrides} {params.extra} > {log} 2>&1"
