rule calibrate_fas:
    input:
        confs=stage_confs(
            "calibrate_fas",
            "model/{model}",
            "data/embedded_prose",
            "conversion/default",
            "fas/default",
        ),
        weights="results/{experiment}/{model}/finetune_qcfs/weights.safetensors",
    output:
        neurons="results/{experiment}/{model}/calibrate_fas/T{T}/fas.safetensors",
        sites="results/{experiment}/{model}/calibrate_fas/T{T}/fas_sites.csv",
        curve="results/{experiment}/{model}/calibrate_fas/T{T}/calibration_curve.csv",
        record="results/{experiment}/{model}/calibrate_fas/T{T}/metrics.json",
    log:
        "logs/calibrate_fas/{experiment}/{model}/T{T}.log",
    benchmark:
        "results/{experiment}/benchmarks/calibrate_fas/{model}/T{T}.tsv"
    priority: larger_models_first(2)  # the head of the FAS chain (four jobs in a row)
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("calibrate_fas"),
    params:
        extra=extra("calibrate_fas"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} conversion.T={w.T} "
            f"weights={input.weights} output_dir={os.path.dirname(output.record)} "
        ),
    shell:
        "python -m las.calibrate_fas {params.overrides} {params.extra} > {log} 2>&1"
