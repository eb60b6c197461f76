# Small helpers shared by the rules; the logic lives in the `las` package.
import os

import yaml


def stage_confs(*groups):
    """Hydra config files a stage reads, as inputs: editing one reruns the stage."""
    return lambda w: [f"conf/{g.format(**w)}.yaml" for g in groups]


def extra(stage):
    """Extra Hydra overrides of `stage` from the pipeline config. Pass it as a param of its own
    (`extra=extra(stage)`): Snakemake records only the params not derived from input or output,
    so inside the `overrides` lambda (which reads them) a changed override reran nothing.
    """
    return config["overrides"].get(stage, "")


def harness_python(task):
    """The python that runs task set `task` (conf/task/<task>.yaml): lmms-eval's environment
    (config `lmms_python`) for `harness: lmms_eval`, else this one."""
    with open(f"conf/task/{task}.yaml") as f:
        harness = yaml.safe_load(f).get("harness", "lm_eval")
    return (
        config.get("lmms_python", ".venv-lmms/bin/python")
        if harness == "lmms_eval"
        else "python"
    )


def run_dir(model, *parts):
    """A stage folder of `model` in this experiment's results store."""
    return os.path.join("results", config["experiment"], model, *parts)


def report_path(*parts):
    """A file of this experiment's reports (`reports/<experiment>/...`)."""
    return os.path.join("reports", config["experiment"], *parts)


#: Methods whose convert folder is named after them (no LAS threshold rule behind it).
BASELINE_METHODS = ("fas", "naive")
#: T of the full LAS method (conf/conversion/default.yaml): its row at that T is `full`.
FULL_T = 16


def convert_folder(method):
    """The convert sub-folder of `method`: LAS by its threshold rule (mse), a baseline by name."""
    return "mse" if method == "las" else method


def variant(method, T):
    """The convert folder below `convert_folder(method)` of `method` at `T` steps."""
    return "full" if method == "las" and T == FULL_T else f"T{T}"


def baseline_runs():
    """(model, method, T) of every baseline comparison the config asks for."""
    b = config["baselines"]
    return [
        (m, method, T) for m in b["models"] for method in b["methods"] for T in b["T"]
    ]


def baseline_inputs(w):
    """The artifacts `convert` reads for baseline `w.method` (METHOD.md M9, M10)."""
    if w.method == "naive":
        return {"stats": run_dir(w.model, "collect", "stats.safetensors")}
    return {
        "fas_neurons": run_dir(w.model, "calibrate_fas", f"T{w.T}", "fas.safetensors"),
        "weights": run_dir(w.model, "finetune_qcfs", "weights.safetensors"),
    }


def evaluate_runs():
    """(model, calibration, ablation) of every evaluate run the config asks for."""
    runs = {(m, c, "full") for m in config["models"] for c in config["calibrations"]}
    ablated = config["ablation"]
    for m in ablated["models"]:
        runs |= {(m, c, "full") for c in ablated["calibrations"]}
        runs |= {(m, "mse", v) for v in ablated["variants"]}
    runs |= {(m, convert_folder(x), variant(x, T)) for m, x, T in baseline_runs()}
    return sorted(runs | set(frontier_runs()))


def frontier_runs():
    """(model, calibration, ablation) of every frontier point the config adds (METHOD.md M8,
    M11, M12): each `calibration/ablation` of `frontier.runs` on each `frontier.models`.
    """
    f = config["frontier"]
    return [(m, *os.path.split(run)) for m in f["models"] for run in f["runs"]]


def evaluate_outputs(name):
    """`name` (metrics.json, spikes.csv, ...) of every evaluate run."""
    return [run_dir(m, "evaluate", c, a, name) for m, c, a in evaluate_runs()]


def full_spikes():
    """Per-site energy tables of the full method with mse thresholds, one per model."""
    return [
        run_dir(m, "evaluate", "mse", "full", "spikes.csv") for m in config["models"]
    ]


def task_records():
    """metrics.json of every evaluate_tasks run: Table 1 (each method at T = 16) and the
    baselines (each method at each of their T, on their task sets)."""
    t, b = config["tasks"], config["baselines"]
    runs = {
        (m, x, FULL_T, s) for m in t["models"] for x in t["methods"] for s in t["sets"]
    }
    runs |= {(m, x, T, s) for m, x, T in baseline_runs() for s in b["sets"]}
    return [
        run_dir(m, "evaluate_tasks", x, variant(x, T), s, "metrics.json")
        for m, x, T, s in sorted(runs)
    ]


def probe_records():
    """metrics.json of every evaluate_probe run (encoders; full method, mse thresholds)."""
    return [
        run_dir(m, "evaluate_probe", "mse", "full", "metrics.json")
        for m in config["probes"]["models"]
    ]


def glue_records():
    """metrics.json of every evaluate_glue run: each GLUE task on its fine-tuned checkpoint,
    converted by the full method with mse thresholds."""
    return [
        run_dir(m, "evaluate_glue", "mse", "full", t, "metrics.json")
        for t, m in sorted(config["glue"].items())
    ]


def vlm_task_records():
    """metrics.json of every evaluate_vlm_tasks run: each VLM, method and image-task set."""
    v = config["vlm_tasks"]
    return [
        run_dir(m, "evaluate_vlm_tasks", x, s, "metrics.json")
        for m in v["models"]
        for x in v["methods"]
        for s in v["sets"]
    ]


def fas_records():
    """metrics.json of the FAS training stages the baselines need (finetune, calibrate)."""
    runs = sorted({(m, T) for m, x, T in baseline_runs() if x == "fas"})
    records = [
        run_dir(m, "finetune_qcfs", "metrics.json")
        for m in sorted({m for m, _ in runs})
    ]
    return records + [
        run_dir(m, "calibrate_fas", f"T{T}", "metrics.json") for m, T in runs
    ]


def vqa_records():
    """metrics.json of every evaluate_vqa run (tiny random VLMs)."""
    return [
        run_dir(f"tiny_{v}", "evaluate_vqa", "metrics.json") for v in config["vlms"]
    ]


def raster_outputs(name):
    """`name` (raster.csv, metrics.json) of the raster run of every model in `rasters`."""
    return [run_dir(m, "raster", "mse", "full", name) for m in config["rasters"]]


def fit_hg_outputs(name):
    """`name` of the fit_hg run of every model."""
    return [run_dir(m, "fit_hg", name) for m in config["models"]]


def stage_records():
    """The record of every stage run (`all` asks for them, so a fresh clone runs them all)."""
    models = config["models"]
    records = [
        run_dir(m, s, "metrics.json") for m in models for s in ("download", "collect")
    ]
    records += fit_hg_outputs("metrics.json")
    calibrations = {(m, c) for m, c, _ in evaluate_runs() if c not in BASELINE_METHODS}
    records += [
        run_dir(m, "calibrate", c, "metrics.json") for m, c in sorted(calibrations)
    ]
    records += [
        run_dir(m, "convert", c, a, "metrics.json") for m, c, a in evaluate_runs()
    ]
    records += evaluate_outputs("metrics.json") + task_records() + probe_records()
    records += [
        run_dir(m, "download", "metrics.json") for m in config["vlm_tasks"]["models"]
    ]
    records += vqa_records() + glue_records() + vlm_task_records()
    records += raster_outputs("metrics.json")
    return records + fas_records()


def figure_names():
    """The figures the figures rule writes (PNG and PDF each)."""
    stems = ["accuracy_vs_T", "energy_vs_threshold_scale", "baselines_vs_T"]
    stems += [f"frontier_{m}" for m in config["frontier"]["models"]]
    stems += [
        f"{kind}_{m}" for kind in ("firing_rates", "outliers") for m in config["models"]
    ]
    stems += [f"raster_{m}" for m in config["rasters"]]
    return [
        report_path("figures", f"{s}.{ext}") for s in stems for ext in ("png", "pdf")
    ]


REPORT_TABLES = [
    "fidelity",
    "ablations",
    "tasks",
    "baselines",
    "frontier",
    "energy",
    "hg_errors",
]


def report_tables():
    """The tables the tables rule writes (CSV, Markdown, LaTeX each); the VQA table only when
    the config has VLMs (`las.tables` writes it from their records)."""
    tables = REPORT_TABLES + (["vqa"] if config["vlms"] else [])
    return [report_path(f"{t}.{ext}") for t in tables for ext in ("csv", "md", "tex")]


def final_outputs():
    """What `all` asks for (every stage record, the tables and the figures)."""
    return stage_records() + report_tables() + figure_names()
