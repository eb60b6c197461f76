"""The paper configuration: its DAG offline (dry run), and the same rules end to end on tiny
random models of the same families (``conf/pipeline/paper_tiny.yaml``)."""

from __future__ import annotations

import os
import re

import pandas as pd
import pytest

from tests.test_workflow import copy_workflow, snakemake

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


def test_the_paper_dag_lists_every_job_offline(tmp_path):
    done = snakemake(copy_workflow(tmp_path), "-n", config="conf/pipeline/paper.yaml")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    counts = job_counts(done.stdout + done.stderr)
    assert set(counts) == {*RULES, "all", "total"}
    # Five causal LMs, BERT-base (one checkpoint per GLUE task: eight, MNLI scored twice) and
    # the two VLMs (on one image-task set).
    assert counts["download"] == 5 + 8 + 2 and counts["evaluate_glue"] == 9
    assert counts["evaluate_vlm_tasks"] == 2
    assert counts["evaluate_tasks"] == 5 * 2 + 2 * 3 * 3 * 2 - 2 * 2  # LAS at T=16 in both


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("LAS_PAPER_TINY") != "1",
    reason="130 tiny jobs (about 25 min on 2 cores): run with LAS_PAPER_TINY=1",
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
