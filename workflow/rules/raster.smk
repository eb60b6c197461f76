# The spike trains of one block for a few held-out tokens, in spike mode (figures: raster_<model>).
rule raster:
    input:
        confs=stage_confs("raster", "model/{model}", "data/embedded_prose"),
        converted="results/{experiment}/{model}/convert/mse/full/converted.json",
    output:
        raster="results/{experiment}/{model}/raster/mse/full/raster.csv",
        sites="results/{experiment}/{model}/raster/mse/full/sites.csv",
        record="results/{experiment}/{model}/raster/mse/full/metrics.json",
    log:
        "logs/raster/{experiment}/{model}.log",
    benchmark:
        "results/{experiment}/benchmarks/raster/{model}.tsv"
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("raster"),
    params:
        extra=extra("raster"),  # not derived from input/output: a change reruns the job
        overrides=lambda w, input, output: (
            f"model={w.model} experiment={w.experiment} "
            f"converted={os.path.dirname(input.converted)} "
            f"output_dir={os.path.dirname(output.record)}"
        ),
    shell:
        "python -m las.raster {params.overrides} {params.extra} > {log} 2>&1"
