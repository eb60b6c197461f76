"""End to end: the Snakemake workflow on the reduced embedded config, in a temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("LAS_TEST_CACHE", Path.home() / ".cache" / "las-test-assets"))
CONFIG = "conf/pipeline/reduced.yaml"

pytestmark = pytest.mark.slow


def snakemake(
    workdir: Path, *args: str, config: str | None = CONFIG
) -> subprocess.CompletedProcess:
    env = os.environ | {"LAS_CACHE": str(CACHE), "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    chosen = ["--configfile", config] if config else []
    command = [sys.executable, "-m", "snakemake", "--cores", "2", *chosen, *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)


def copy_workflow(work: Path, *extra: str) -> Path:
    """The workflow files of the checkout (Snakefile, rules, profile, configs) in ``work``."""
    shutil.copy(ROOT / "Snakefile", work)
    for folder in ("workflow", "conf", "profiles", *extra):
        shutil.copytree(ROOT / folder, work / folder)
    shutil.copy(ROOT / "environment.yml", work)
    return work


def test_a_fresh_clone_runs_the_pipeline(tmp_path):
    """Failure 1: the committed reports do not satisfy `all`; the stages' records are asked for."""
    work = copy_workflow(tmp_path, "reports")
    done = snakemake(work, "-n", config=None)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "Nothing to be done" not in out
    rules = ("download", "collect", "calibrate", "fit_hg", "convert", "evaluate", "tables")
    for rule in (*rules, "finetune_qcfs", "calibrate_fas", "convert_baseline"):
        assert f"rule {rule}:" in out, rule
    assert "Using workflow specific profile profiles/default" in out  # failure 7


def test_the_full_embedded_config_runs_every_real_model_on_every_task(tmp_path):
    """conf/pipeline/embedded_full.yaml: the four real models; the three causal LMs on every
    multiple-choice and perplexity task set."""
    work = copy_workflow(tmp_path)
    done = snakemake(work, "-n", config="conf/pipeline/embedded_full.yaml")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    for model in ("smollm2_135m", "minilm_l6", "qwen25_coder_05b", "gemma3_270m"):
        assert f"results/embedded_full/{model}/evaluate/mse/full/metrics.json" in out, model
    for model in ("smollm2_135m", "qwen25_coder_05b", "gemma3_270m"):
        for task_set in ("full_choice", "full_ppl"):
            record = f"{model}/evaluate_tasks/las/full/{task_set}/metrics.json"
            assert f"results/embedded_full/{record}" in out, record
    # embedded_ablations.yaml and embedded_frontier.yaml run these
    for outside in ("evaluate/mse/T4/", "evaluate/fas/", "evaluate/naive/", "evaluate/mse/naf/"):
        assert outside not in out, outside


def test_the_ablations_config_runs_every_ablation_and_baseline_with_its_tasks(tmp_path):
    """conf/pipeline/embedded_ablations.yaml: every ablation of SmolLM2 and the three baselines at
    T 4, 8 and 16, each baseline on the embedded task set (LAS at T = 16 is the full method)."""
    work = copy_workflow(tmp_path)
    done = snakemake(work, "-n", config="conf/pipeline/embedded_ablations.yaml")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    root = "results/embedded_ablations/smollm2_135m"
    for run in ("mse/no_oat", "mse/T2", "mse/scale4", "quantile/full", "fixed/full", "mse/naf"):
        assert f"{root}/evaluate/{run}/metrics.json" in out, run
    for method in ("las", "fas", "naive"):
        for T in (4, 8, 16):
            run = "las/full" if (method, T) == ("las", 16) else f"{method}/T{T}"
            assert f"{root}/evaluate_tasks/{run}/embedded/metrics.json" in out, run
    assert "full_choice" not in out and "full_ppl" not in out
    assert "rule raster:" in out and "rule evaluate_vqa:" in out


def test_the_frontier_config_runs_every_point_on_every_real_causal_lm(tmp_path):
    """conf/pipeline/embedded_frontier.yaml: the frontier's runs (binary and signed digits, the
    allocations) on the three real causal LMs; embedded_full runs none of them."""
    work = copy_workflow(tmp_path)
    done = snakemake(work, "-n", config="conf/pipeline/embedded_frontier.yaml")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    runs = ("mse/full", "mse/T8", "mse/naf_T12", "mse_kl002_check/naf", "mse_top99_low/naf_round")
    for model in ("smollm2_135m", "qwen25_coder_05b", "gemma3_270m"):
        for run in runs:
            record = f"results/embedded_frontier/{model}/evaluate/{run}/metrics.json"
            assert record in out, record
    full = snakemake(work, "-n", config="conf/pipeline/embedded_full.yaml")
    assert "evaluate/mse_top99_low/" not in full.stdout + full.stderr


def test_an_incomplete_pipeline_config_is_rejected_not_merged(tmp_path):
    """Failure 5: a config with keys left out is not filled in from the embedded default."""
    work = copy_workflow(tmp_path)
    (work / "partial.yaml").write_text("models: [smollm2_135m]\n")
    done = snakemake(work, "-n", config="partial.yaml")
    assert done.returncode != 0
    assert "'experiment' is a required property" in done.stdout + done.stderr


def run_reduced(work: Path) -> Path:
    """The workflow copied into ``work`` and run once to completion on the reduced config (the
    ``workflow`` fixture of tests/conftest.py, shared by the workflow and paper tests)."""
    copy_workflow(work)
    done = snakemake(work)
    logs = "\n".join(p.read_text()[-3000:] for p in sorted((work / "logs").rglob("*.log")))
    assert done.returncode == 0, done.stderr[-4000:] + logs
    return work


def test_every_report_exists_and_parses(workflow):
    reports = workflow / "reports" / "reduced"
    assert not (workflow / "reports" / "embedded").exists()  # failure 5: one folder per experiment
    names = (
        "fidelity",
        "ablations",
        "tasks",
        "baselines",
        "frontier",
        "energy",
        "hg_errors",
        "vqa",
    )
    for name in names:
        assert len(pd.read_csv(reports / f"{name}.csv")) > 0, name
        assert (reports / f"{name}.md").read_text().startswith("###")
        assert "\\begin{tabular}" in (reports / f"{name}.tex").read_text()
    figures = list((reports / "figures").glob("*.png"))
    assert len(figures) == 8 and all(p.stat().st_size > 1000 for p in figures)
    assert (reports / "figures" / "baselines_vs_T.png").exists()
    assert (reports / "figures" / "frontier_smollm2_135m.png").exists()  # its full-method points


def test_table_numbers_equal_the_results(workflow):
    results = workflow / "results" / "reduced"
    fidelity = pd.read_csv(workflow / "reports/reduced/fidelity.csv").set_index("model")
    for model in ("smollm2_135m", "minilm_l6"):
        record = json.loads((results / model / "evaluate/mse/full/metrics.json").read_text())
        for key in ("perplexity_ratio", "top1_agreement", "hidden_rel_error", "energy_ratio"):
            if key in record:
                assert fidelity.loc[model, key] == record[key], (model, key)
    tasks = pd.read_csv(results / "smollm2_135m/evaluate_tasks/las/full/embedded/tasks.csv")
    evaluated = json.loads((results / "smollm2_135m/evaluate/mse/full/metrics.json").read_text())
    assert set(tasks["thresholds_hash"]) == {evaluated["thresholds_hash"]}
    ablations = pd.read_csv(workflow / "reports/reduced/ablations.csv")
    assert set(ablations["ablation"]) == {"full", "T8", "scale2"}
    table = pd.read_csv(workflow / "reports/reduced/tasks.csv")
    probes = pd.read_csv(results / "minilm_l6/evaluate_probe/mse/full/tasks.csv")
    assert set(table["model"]) == {"smollm2_135m", "minilm_l6"}
    assert len(table) == len(tasks) + len(probes)
    table = table[table["model"] == "smollm2_135m"]
    for row in tasks.itertuples():
        (cell,) = table[(table.task == row.task) & (table.metric == row.metric)]["delta [95% CI]"]
        assert cell.startswith(f"{row.delta:+.4g} ")


def test_every_method_runs_through_the_same_rules_into_the_baseline_table(workflow):
    """FAS and naive: convert, evaluate and evaluate_tasks rules as LAS, rows beside the ANN."""
    results = workflow / "results" / "reduced" / "smollm2_135m"
    table = pd.read_csv(workflow / "reports/reduced/baselines.csv")
    assert list(table["method"]) == ["ANN", "las", "fas", "naive"]
    assert set(table["T"].dropna()) == {8}
    for method, folder in (("las", "mse/T8"), ("fas", "fas/T8"), ("naive", "naive/T8")):
        record = json.loads((results / "evaluate" / folder / "metrics.json").read_text())
        row = table[table["method"] == method].iloc[0]
        assert row["energy_ratio"] == record["energy_ratio"] and record["method"] == method
        assert row["spiking_parts"] == record["spiking_parts"]
        variant = folder.split("/")[1]
        tasks = pd.read_csv(results / "evaluate_tasks" / method / variant / "embedded/tasks.csv")
        assert set(tasks["method"]) == {method} and set(tasks["T"]) == {8}
    fas = table[table["method"] == "fas"].iloc[0]
    assert fas["fine-tuning"] == "2 steps, 128 tokens"
    assert "FFN activation only" in fas["spiking_parts"]
    curve = pd.read_csv(results / "finetune_qcfs/loss_curve.csv")
    assert list(curve["step"]) == [1, 2]


def test_second_run_has_nothing_to_do(workflow):
    again = snakemake(workflow, "-n")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_a_lost_record_reruns_its_stage(workflow, tmp_path):
    """Failure 8: every rule declares its record, so a run without one is not skipped."""
    path = workflow / "results/reduced/smollm2_135m/collect/metrics.json"
    shutil.copy2(path, tmp_path / "saved")
    path.unlink()
    try:
        again = snakemake(workflow, "-n")
        assert again.returncode == 0 and "rule collect:" in again.stdout + again.stderr
    finally:
        shutil.copy2(tmp_path / "saved", path)


def test_a_changed_override_reruns_its_stage_only(workflow, tmp_path):
    """A stage's extra Hydra overrides (`overrides` in the pipeline config) are a param Snakemake
    records: changing one reruns that stage and what reads it, not the stages before it."""
    reduced = (workflow / CONFIG).read_text()
    old = "evaluate: data.seq_len=32 data.eval_sequences=2"
    assert old in reduced
    changed = tmp_path / "changed.yaml"
    changed.write_text(reduced.replace(old, "evaluate: data.seq_len=32 data.eval_sequences=3"))
    again = snakemake(workflow, "-n", config=str(changed))
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-3000:]
    assert "rule evaluate:" in out and "params" in out.split("rule evaluate:")[1][:2000]
    assert "rule collect:" not in out and "rule convert:" not in out


def test_every_file_the_tables_read_is_declared(workflow):
    """Failure 8: `hg_sample_errors.csv`, read by `tables`, is one of its declared inputs."""
    done = snakemake(workflow, "--detailed-summary")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("\t") for line in done.stdout.splitlines() if "\t" in line]
    (row,) = [r for r in rows if r[0] == "reports/reduced/hg_errors.csv"]
    inputs = row[4].split(",")
    assert row[2] == "tables"
    assert "results/reduced/smollm2_135m/fit_hg/hg_sample_errors.csv" in inputs
