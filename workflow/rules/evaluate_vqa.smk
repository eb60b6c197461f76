rule evaluate_vqa:
    input:
        confs=stage_confs("evaluate_vqa", "conversion/default", "calibration/mse"),
    output:
        rows="results/{experiment}/tiny_{vlm}/evaluate_vqa/vqa.csv",
        record="results/{experiment}/tiny_{vlm}/evaluate_vqa/metrics.json",
    log:
        "logs/evaluate_vqa/{experiment}/{vlm}.log",
    benchmark:
        "results/{experiment}/benchmarks/evaluate_vqa/{vlm}.tsv"
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("evaluate_vqa"),
    params:
        extra=extra("evaluate_vqa"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, output: (
            f"vlm={w.vlm} experiment={w.experiment} "
            f"output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.evaluate_vqa {params.overrides} {params.extra} > {log} 2>&1"
