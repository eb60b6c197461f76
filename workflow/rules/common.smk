# Small helpers shared by the rules; the logic lives in the `las` package.
import os


def stage_confs(*groups):
    """Hydra config files a stage reads, as inputs: editing one reruns the stage."""
    return lambda w: [f"conf/{g.format(**w)}.yaml" for g in groups]


def extra(stage):
    """Extra Hydra overrides of `stage` from the pipeline config (params: a change reruns it)."""
    return config["overrides"].get(stage, "")


def run_dir(model, *parts):
    """A stage folder of `model` in this experiment's results store."""
    return os.path.join("results", config["experiment"], model, *parts)


def report_path(*parts):
    """A file of this experiment's reports (`reports/<experiment>/...`)."""
    return os.path.join("reports", config["experiment"], *parts)


def evaluate_runs():
    """(model, calibration, ablation) of every evaluate run the config asks for."""
    runs = {(m, c, "full") for m in config["models"] for c in config["calibrations"]}
    ablated = config["ablation"]
    for m in ablated["models"]:
        runs |= {(m, c, "full") for c in ablated["calibrations"]}
        runs |= {(m, "mse", v) for v in ablated["variants"]}
    return sorted(runs)


def evaluate_outputs(name):
    """`name` (metrics.json, spikes.csv, ...) of every evaluate run."""
    return [run_dir(m, "evaluate", c, a, name) for m, c, a in evaluate_runs()]


def full_spikes():
    """Per-site energy tables of the full method with mse thresholds, one per model."""
    return [
        run_dir(m, "evaluate", "mse", "full", "spikes.csv") for m in config["models"]
    ]


def task_records():
    """metrics.json of every evaluate_tasks run."""
    t = config["tasks"]
    return [
        run_dir(m, "evaluate_tasks", method, s, "metrics.json")
        for m in t["models"]
        for method in t["methods"]
        for s in t["sets"]
    ]


def vqa_records():
    """metrics.json of every evaluate_vqa run (tiny random VLMs)."""
    return [
        run_dir(f"tiny_{v}", "evaluate_vqa", "metrics.json") for v in config["vlms"]
    ]


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
    calibrations = {(m, c) for m, c, _ in evaluate_runs()}
    records += [
        run_dir(m, "calibrate", c, "metrics.json") for m, c in sorted(calibrations)
    ]
    records += [
        run_dir(m, "convert", c, a, "metrics.json") for m, c, a in evaluate_runs()
    ]
    return records + evaluate_outputs("metrics.json") + task_records() + vqa_records()


def figure_names():
    """The figures the figures rule writes (PNG and PDF each)."""
    stems = ["accuracy_vs_T", "energy_vs_threshold_scale"]
    stems += [
        f"{kind}_{m}" for kind in ("firing_rates", "outliers") for m in config["models"]
    ]
    return [
        report_path("figures", f"{s}.{ext}") for s in stems for ext in ("png", "pdf")
    ]


REPORT_TABLES = [
    "fidelity",
    "ablations",
    "tasks",
    "baselines",
    "energy",
    "hg_errors",
    "vqa",
]


def report_tables():
    """The tables the tables rule writes (CSV, Markdown, LaTeX each)."""
    return [
        report_path(f"{t}.{ext}") for t in REPORT_TABLES for ext in ("csv", "md", "tex")
    ]


def final_outputs():
    """What `all` asks for (every stage record, the tables and the figures)."""
    return stage_records() + report_tables() + figure_names()
