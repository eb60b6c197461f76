# Cluster resources of every stage's jobs, computed from the model's size by the table in
# workflow/resources.yaml (formulas there); a local run ignores them.
import fnmatch
import functools
import math
import re

import yaml

with open("workflow/resources.yaml") as f:
    RESOURCES = yaml.safe_load(f)

#: Bytes per parameter of each model dtype (conf/model/*.yaml).
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
#: A size in a model id: `1.3b`, `135M`, `0.5b` (not the `2` of `gpt2` or `l6`).
NAMED_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)([mb])(?![a-z0-9])", re.IGNORECASE)


@functools.cache
def model_size(model):
    """(P, W) of `model`: billions of parameters and GB of weights in its configured dtype."""
    with open(f"conf/model/{model}.yaml") as f:
        spec = yaml.safe_load(f)
    named = NAMED_SIZE.search(spec["id"])
    listed = [
        p
        for name, p in RESOURCES["params_b"].items()
        if fnmatch.fnmatchcase(model, name)
    ]
    if listed:
        params = listed[0]
    elif spec["source"] == "tiny":
        params = 0.0
    elif named:
        params = float(named[1]) / (1000 if named[2].lower() == "m" else 1)
    else:
        raise ValueError(
            f"cannot size model {model!r} for its cluster jobs: its id {spec['id']!r} "
            "names no size; add its parameters (billions) to params_b in "
            "workflow/resources.yaml"
        )
    return params, params * DTYPE_BYTES[spec["dtype"]]


def job_needs(stage, model):
    """mem_mb, runtime (minutes), cpus_per_task and gpu of a first attempt of a `stage` job
    on `model` (None: no model, the stage's base numbers)."""
    row, top = RESOURCES["stages"][stage], RESOURCES
    params, weights = model_size(model) if model else (0.0, 0.0)
    memory = row["mem_per_weight"] * weights
    cpus, gpus = 1, 0
    if row["runs_model"]:
        cpus = min(top["max_cpus"], max(1, math.ceil(top["cpus_per_b"] * params)))
        if params >= top["gpu_from_b"]:
            gpus = min(top["max_gpus"], math.ceil(memory / top["gpu_mem_gb"]))
    return {
        "mem_mb": math.ceil(1024 * (row["mem_gb"] + memory)),
        "runtime": math.ceil(row["minutes"] + row["minutes_per_b"] * params),
        "cpus_per_task": cpus,
        "gpu": gpus,
    }


def larger_models_first(tier):
    """A rule's priority (Snakemake starts the ready job of highest priority first): `tier`,
    plus a share in [0, 1) that grows with the job's model's size, so that of two ready jobs of
    one tier the larger model's starts first. Its chain (download -> collect -> ... ->
    evaluate_tasks) is the longest, and started last it would end the run alone."""

    def priority(w):
        params = model_size(w["model"])[0] if "model" in w.keys() else 0.0
        return tier + params / (1 + params)

    return priority


def stage_resources(stage):
    """The resources of a `stage` rule: sized by its `model` wildcard, memory and time doubled
    on a second attempt (the Slurm profile's retries)."""
    if stage not in RESOURCES["stages"]:
        raise ValueError(
            f"no resources for stage {stage!r}: add it to workflow/resources.yaml"
        )

    def need(w):
        return job_needs(stage, w.get("model"))

    return {
        "mem_mb": lambda w, attempt: need(w)["mem_mb"] * attempt,
        "runtime": lambda w, attempt: need(w)["runtime"] * attempt,
        "cpus_per_task": lambda w: need(w)["cpus_per_task"],
        "gpu": lambda w: need(w)["gpu"],
    }
