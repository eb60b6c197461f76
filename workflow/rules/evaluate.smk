rule evaluate:
    input:
        confs=stage_confs(
            "evaluate", "model/{model}", "data/embedded_prose", "energy/default"
        ),
        converted="results/{experiment}/{model}/convert/{calibration}/{ablation}/converted.json",
    output:
        fidelity="results/{experiment}/{model}/evaluate/{calibration}/{ablation}/fidelity.csv",
        spikes="results/{experiment}/{model}/evaluate/{calibration}/{ablation}/spikes.csv",
        record="results/{experiment}/{model}/evaluate/{calibration}/{ablation}/metrics.json",
    log:
        "logs/evaluate/{experiment}/{model}/{calibration}/{ablation}.log",
    benchmark:
        "results/{experiment}/benchmarks/evaluate/{model}/{calibration}/{ablation}.tsv"
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("evaluate"),
    params:
        extra=extra("evaluate"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} "
            f"converted={os.path.dirname(input.converted)} "
            f"output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.evaluate {params.overrides} {params.extra} > {log} 2>&1"
