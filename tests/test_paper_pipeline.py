"""The paper configuration: its DAG offline (dry run), and the same rules end to end on tiny
random models of the same families (``conf/pipeline/paper_tiny.yaml``)."""

from __future__ import annotations

import os
import re

import pandas as pd
import pytest
import yaml

from tests.test_workflow import ROOT, copy_workflow, snakemake

ENCODER_ONLY = ("hidden_rel_error", "embedding_cosine_min", "embedding_cosine_mean")
TABLES = ("fidelity", "ablations", "tasks", "baselines", "energy", "hg_errors", "vqa")
#: Every rule a paper run needs (each table's stages); `all` asks for them.
RULES = (
    "download",
    "collect",
    "calibrate",
    "fit_hg",
    "finetune_qcfs",
    "calibrate_fas",
    "convert",
    "convert_baseline",
    "evaluate",
    "evaluate_tasks",
    "evaluate_glue",
    "evaluate_vqa",
    "evaluate_vlm_tasks",
    "tables",
    "figures",
)


def job_counts(out: str) -> dict[str, int]:
    """The "Job stats" table of a Snakemake run or dry run."""
    table = out[out.index("Job stats:") :].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def fixed_columns(table: pd.DataFrame) -> list[str]:
    """The columns a table has whatever the run: without the per-task columns of the baselines
    table, the encoder-only metrics (no encoder in ``models`` here), the percentile of naive
    records, the labels of bit-allocated conversions, and ``asset``."""
    data_dependent = {"asset", "percentile", "allocation", "allocation_hash", "sentences"}
    data_dependent |= set(ENCODER_ONLY)
    return [
        c
        for c in table.columns
        if c not in data_dependent and not c.endswith((" delta [95% CI]", " verdict"))
    ]


def one_job_per_rule(paper_tiny: dict) -> dict:
    """``paper_tiny`` cut to the first entry of each list, so that every rule of the paper
    pipeline runs on it (about once) with paper_tiny's tiny models, items and overrides: the first
    causal LM that is a baseline model (also the ablation model here), the three baseline methods
    at one T (the ablation variant of that T when there is one: the same LAS run), one GLUE task,
    one VLM on one image-task set."""
    model = next(m for m in paper_tiny["models"] if m in paper_tiny["baselines"]["models"])
    tasks, baselines, ablation = (
        paper_tiny["tasks"],
        paper_tiny["baselines"],
        paper_tiny["ablation"],
    )
    T = baselines["T"][0]
    variant = f"T{T}" if f"T{T}" in ablation["variants"] else ablation["variants"][0]
    return paper_tiny | {
        "experiment": "paper_tiny_one_each",
        "models": [model],
        "calibrations": paper_tiny["calibrations"][:1],
        "ablation": {"models": [model], "variants": [variant], "calibrations": []},
        "tasks": {"models": [model], "sets": tasks["sets"][:1], "methods": tasks["methods"][:1]},
        "baselines": baselines | {"models": [model], "T": [T], "sets": []},
        "glue": dict(list(paper_tiny["glue"].items())[:1]),
        "vlm_tasks": {key: value[:1] for key, value in paper_tiny["vlm_tasks"].items()},
        "vlms": paper_tiny["vlms"][:1],
    }


def test_the_paper_dag_lists_every_job_offline(tmp_path):
    done = snakemake(copy_workflow(tmp_path), "-n", config="conf/pipeline/paper.yaml")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    counts = job_counts(done.stdout + done.stderr)
    assert set(counts) == {*RULES, "all", "total"}
    # Five causal LMs, BERT-base (one checkpoint per GLUE task: eight, MNLI scored twice) and
    # the two VLMs (on two image-task sets: lm-eval's, and lmms-eval's run by its own python).
    assert counts["download"] == 5 + 8 + 2 and counts["evaluate_glue"] == 9
    assert counts["evaluate_vlm_tasks"] == 2 * 2
    out = done.stdout + done.stderr
    assert ".venv-lmms/bin/python -m las.evaluate_vlm_tasks model=llava15_7b" in out
    assert "task=paper_vlm_lmms" in out and "python -m las.evaluate_vlm_tasks model=" in out
    assert counts["evaluate_tasks"] == 5 * 2 + 2 * 3 * 3 * 2 - 2 * 2  # LAS at T=16 in both


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("LAS_PAPER_TINY") != "1",
    reason="134 tiny jobs (about 40 min on 2 cores): run with LAS_PAPER_TINY=1",
)
def test_the_tiny_paper_run_writes_every_table_with_the_embedded_columns(tmp_path, workflow):
    work = copy_workflow(tmp_path)
    done = snakemake(work, config="conf/pipeline/paper_tiny.yaml")
    logs = "\n".join(p.read_text()[-2000:] for p in sorted((work / "logs").rglob("*.log")))
    assert done.returncode == 0, done.stderr[-4000:] + logs
    dry = snakemake(work, "-n", config="conf/pipeline/paper.yaml")
    assert set(job_counts(dry.stdout + dry.stderr)) == {*RULES, "all", "total"}
    reports = work / "reports" / "paper_tiny"
    for name in TABLES:
        table = pd.read_csv(reports / f"{name}.csv")
        # The embedded chain's tables from the same code (the reduced embedded run).
        embedded = pd.read_csv(workflow / "reports" / "reduced" / f"{name}.csv")
        assert len(table) > 0, name
        assert fixed_columns(table) == fixed_columns(embedded), name
    tasks = pd.read_csv(reports / "tasks.csv")
    names = {"plumbing_sst2", "plumbing_rte", "las_prose_ppl", "las_wiki_ppl", "las_shapes_vqa"}
    assert names <= set(tasks.task)
    results = work / "results" / "paper_tiny" / "tiny_bert_classifier" / "evaluate_glue"
    glue = pd.read_csv(results / "mse" / "full" / "plumbing_rte" / "glue.csv")
    lm = work / "results/paper_tiny/tiny_opt/evaluate_tasks/las/full/embedded/tasks.csv"
    assert list(glue.columns) == list(pd.read_csv(lm).columns)


def test_every_rule_of_the_tiny_paper_run_runs_once(tmp_path):
    """Ungated, CI-sized: paper_tiny cut to one job per rule (:func:`one_job_per_rule`) runs end
    to end and writes every table; the GLUE and VLM rows have the columns of the causal LM's
    (the gated test above compares all tables with the embedded chain's)."""
    work = copy_workflow(tmp_path)
    paper_tiny = yaml.safe_load((ROOT / "conf/pipeline/paper_tiny.yaml").read_text())
    config = work / "one_each.yaml"
    config.write_text(yaml.safe_dump(one_job_per_rule(paper_tiny)))
    done = snakemake(work, config=str(config.relative_to(work)))
    logs = "\n".join(p.read_text()[-2000:] for p in sorted((work / "logs").rglob("*.log")))
    assert done.returncode == 0, done.stderr[-4000:] + logs
    counts = job_counts(done.stdout + done.stderr)
    assert set(counts) == {*RULES, "all", "total"}, counts
    assert counts["evaluate_vlm_tasks"] == counts["evaluate_glue"] == counts["tables"] == 1
    reports = work / "reports" / "paper_tiny_one_each"
    for name in TABLES:
        assert len(pd.read_csv(reports / f"{name}.csv")) > 0, name
    tasks = pd.read_csv(reports / "tasks.csv")
    assert {"las_mmlu_embedded", "plumbing_sst2", "las_shapes_vqa"} <= set(tasks.task)
    results = work / "results" / "paper_tiny_one_each"
    model = one_job_per_rule(paper_tiny)["models"][0]
    lm = pd.read_csv(results / model / "evaluate_tasks/las/full/embedded/tasks.csv")
    glue = pd.read_csv(
        results / "tiny_bert_classifier/evaluate_glue/mse/full/plumbing_sst2/glue.csv"
    )
    vlm = pd.read_csv(results / "tiny_llava/evaluate_vlm_tasks/las/shapes_vqa/tasks.csv")
    assert list(glue.columns) == list(vlm.columns) == list(lm.columns)
