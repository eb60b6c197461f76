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
