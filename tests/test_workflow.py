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


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"LAS_CACHE": str(CACHE), "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", CONFIG, *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """A copy of the workflow (Snakefile, rules, configs) run once to completion."""
    work = tmp_path_factory.mktemp("workflow")
    shutil.copy(ROOT / "Snakefile", work)
    for folder in ("workflow", "conf"):
        shutil.copytree(ROOT / folder, work / folder)
    shutil.copy(ROOT / "environment.yml", work)
    done = snakemake(work)
    logs = "\n".join(p.read_text()[-3000:] for p in sorted((work / "logs").rglob("*.log")))
    assert done.returncode == 0, done.stderr[-4000:] + logs
    return work


def test_every_report_exists_and_parses(workflow):
    reports = workflow / "reports"
    for name in ("fidelity", "ablations", "tasks", "baselines", "energy", "hg_errors", "vqa"):
        assert len(pd.read_csv(reports / f"{name}.csv")) > 0, name
        assert (reports / f"{name}.md").read_text().startswith("###")
        assert "\\begin{tabular}" in (reports / f"{name}.tex").read_text()
    figures = list((reports / "figures").glob("*.png"))
    assert len(figures) == 6 and all(p.stat().st_size > 1000 for p in figures)


def test_table_numbers_equal_the_results(workflow):
    results = workflow / "results" / "reduced"
    fidelity = pd.read_csv(workflow / "reports" / "fidelity.csv").set_index("model")
    for model in ("smollm2_135m", "minilm_l6"):
        record = json.loads((results / model / "evaluate/mse/full/metrics.json").read_text())
        for key in ("perplexity_ratio", "top1_agreement", "hidden_rel_error", "energy_ratio"):
            if key in record:
                assert fidelity.loc[model, key] == record[key], (model, key)
    tasks = pd.read_csv(results / "smollm2_135m/evaluate_tasks/las/embedded/tasks.csv")
    evaluated = json.loads((results / "smollm2_135m/evaluate/mse/full/metrics.json").read_text())
    assert set(tasks["thresholds_hash"]) == {evaluated["thresholds_hash"]}
    ablations = pd.read_csv(workflow / "reports" / "ablations.csv")
    assert set(ablations["ablation"]) == {"full", "T8", "scale2"}
    table = pd.read_csv(workflow / "reports" / "tasks.csv")
    assert len(table) == len(tasks)
    for row in tasks.itertuples():
        (cell,) = table[(table.task == row.task) & (table.metric == row.metric)]["delta [95% CI]"]
        assert cell.startswith(f"{row.delta:+.4g} ")


def test_second_run_has_nothing_to_do(workflow):
    again = snakemake(workflow, "-n")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr
