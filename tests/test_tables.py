"""The tables stage gives the same reports from the local records and from W&B."""

from __future__ import annotations

import pandas as pd
import pytest
import wandb

from las import tables
from tests.wandb_recorded import RecordedApi, isolate_wandb, write_twins

EVALUATIONS = ("r5t8w2e3", "b2n6v8e4")


@pytest.fixture
def records(tmp_path, monkeypatch):
    """Local records of the recorded evaluate runs; wandb.Api answers from the recording."""
    isolate_wandb(tmp_path, monkeypatch)
    monkeypatch.setattr(wandb, "Api", RecordedApi)
    return [str(p) for p in write_twins(tmp_path / "results", monkeypatch, EVALUATIONS)]


def test_local_and_wandb_sources_give_identical_reports(records, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE")
    tables.main(["--out", str(tmp_path / "local"), *records])
    monkeypatch.setenv("WANDB_MODE", "online")  # the default source becomes W&B
    tables.main(["--out", str(tmp_path / "online"), *records])
    for name in ("fidelity.csv", "fidelity.md", "fidelity.tex"):
        local, online = (tmp_path / d / name for d in ("local", "online"))
        assert local.read_text() == online.read_text(), name


def test_fidelity_table_columns_and_values(records, tmp_path):
    tables.main(["--out", str(tmp_path), "--source", "local", *records])
    table = pd.read_csv(tmp_path / "fidelity.csv")
    known = [c for c in (*tables.IDENTITY, *tables.METRICS) if c in table.columns]
    assert list(table.columns) == [*known, "asset"]
    assert list(table["model"]) == ["tiny_bert", "tiny_llama"]
    llama = table.set_index("model").loc["tiny_llama"]
    assert llama["perplexity_ratio"] == 1.0004116300186398 and llama["asset"] == "tiny-llama"
    markdown = (tmp_path / "fidelity.md").read_text()
    assert "### Causal LMs" in markdown and "### Encoders" in markdown


def test_the_baseline_table_puts_every_method_beside_the_ann(baselines, chain, tmp_path):
    """LAS, FAS and naive at equal T: fidelity and energy from evaluate, task deltas with CIs."""
    from tests.stage_chain import run_stage

    evaluate = [o for o in chain.overrides("evaluate") if not o.startswith(("output", "conv"))]
    tasks = [o for o in chain.overrides("evaluate_tasks") if not o.startswith(("output", "conv"))]
    records, task_records = [], []
    for method in ("fas", "naive"):
        folder = f"converted={baselines.dir(f'convert_{method}')}"
        out = tmp_path / "results" / "tiny" / "tiny_llama"
        done = run_stage("evaluate", *evaluate, folder, f"output_dir={out}/evaluate/{method}/T4")
        records.append(str(done / "metrics.json"))
        done = run_stage(
            "evaluate_tasks",
            *tasks,
            f"method={method}",
            folder,
            f"output_dir={out}/evaluate_tasks/{method}/T4/embedded",
        )
        task_records.append(str(done / "metrics.json"))
    finetune = str(baselines.dir("finetune_qcfs") / "metrics.json")
    tables.main(
        [
            "--out",
            str(tmp_path / "r"),
            "--tasks",
            *task_records,
            "--finetune",
            finetune,
            "--",
            *records,
        ]
    )
    table = pd.read_csv(tmp_path / "r" / "baselines.csv")
    assert list(table["method"]) == ["ANN", "fas", "naive"]
    ann, fas, naive = (row for _, row in table.iterrows())
    assert ann["energy_ratio"] == 1.0 and ann["spiking_parts"] == "nothing (the ANN)"
    assert fas["fine-tuning"] == "3 steps, 192 tokens" and naive["fine-tuning"] == "-"
    cell = "las_prose_ppl word_perplexity delta [95% CI]"
    rows = pd.read_csv(
        tmp_path / "results/tiny/tiny_llama/evaluate_tasks/fas/T4/embedded/tasks.csv"
    )
    (row,) = rows[rows["metric"] == "word_perplexity"].itertuples()
    assert fas[cell] == f"{row.delta:+.4g} [{row.delta_ci_low:+.4g}, {row.delta_ci_high:+.4g}]"
    assert fas["las_prose_ppl word_perplexity verdict"] == row.verdict
