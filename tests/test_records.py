"""Run records from the local results store and from W&B (a recorded API response) agree."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import wandb

from las.records import COLUMNS, WandbProject, load_records, mirrored_records
from tests.wandb_recorded import CURRENT, RecordedApi, isolate_wandb, write_twins

PROJECT = WandbProject("las", "embedded", "las-ci")


@pytest.fixture(autouse=True)
def recorded_api(monkeypatch, tmp_path):
    """``wandb.Api`` replaced by the recorded response; W&B's folders kept under tmp_path."""
    isolate_wandb(tmp_path, monkeypatch)
    monkeypatch.setattr(wandb, "Api", RecordedApi)


@pytest.fixture
def twins(tmp_path, monkeypatch):
    """Local records of the current recorded runs, written by record_stage."""
    return write_twins(tmp_path / "results", monkeypatch)


def test_local_and_wandb_records_are_equal(twins, tmp_path):
    local = load_records(tmp_path / "results")
    online = load_records(WandbProject("las", "embedded", "las-ci", frozenset(CURRENT)))
    pd.testing.assert_frame_equal(local, online)
    pd.testing.assert_frame_equal(local, load_records(twins))
    assert list(local.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert sorted(local["run_id"]) == sorted(CURRENT)


def test_rows_hold_the_scalar_fields_only(twins):
    records = load_records(PROJECT, stage="evaluate")
    assert not any(c.startswith(("_", "tables/")) for c in records.columns)
    bert = records[records["model"] == "tiny_bert"].iloc[0]
    assert bert["hg_inputs_clamped"] == 3 and bert["sentences"] == 2 and bert["T"] == 16
    assert bert["experiment"] == "embedded" and bert["git_commit"].startswith("f5da840")


def test_group_and_stage_select_runs():
    every = load_records(PROJECT)
    assert set(every["experiment"]) == {"embedded"} and len(every) == 4
    assert set(load_records(PROJECT, stage="evaluate")["stage"]) == {"evaluate"}
    assert len(load_records(WandbProject("las", "paper", "las-ci"))) == 1


def test_mirrored_records_are_the_runs_the_files_name(twins):
    online = mirrored_records(twins)
    pd.testing.assert_frame_equal(online, load_records(twins))
    assert "p7q2m4e1" not in set(online["run_id"])  # an older rerun of the same evaluation


def test_mirrored_records_refuse_untracked_and_unsynced_runs(twins):
    record = json.loads(twins[0].read_text())
    twins[0].write_text(json.dumps(record | {"wandb": None}))
    with pytest.raises(LookupError, match="tracking was disabled"):
        mirrored_records(twins)
    twins[0].write_text(json.dumps(record | {"wandb": record["wandb"] | {"id": "offline1"}}))
    with pytest.raises(LookupError, match="wandb sync"):
        mirrored_records(twins)


def test_no_records_give_an_empty_frame(tmp_path):
    assert list(load_records(tmp_path).columns) == list(COLUMNS)
