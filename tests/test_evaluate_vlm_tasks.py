"""Stage ``evaluate_vlm_tasks``: paired ANN/SNN rows of a converted VLM on an lm-eval image task."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from las import reporting
from las.config import ConfigError
from las.records import load_records
from las.stage import load_config
from tests.stage_chain import compose_stage, config_class, run_stage
from tests.test_evaluate_glue import ROW_COLUMNS


def test_rows_pair_the_ann_and_the_converted_vlm(tmp_path):
    out = run_stage(
        "evaluate_vlm_tasks",
        "model=tiny_qwen2_vl",
        "task.limit=2",
        "conversion.T=8",
        "tracking=disabled",
        f"output_dir={tmp_path}",
    )
    rows = pd.read_csv(out / "tasks.csv", keep_default_na=False, na_values=[""])
    assert list(rows.columns) == ROW_COLUMNS  # evaluate_tasks' columns
    (row,) = rows.to_dict("records")
    assert (row["task"], row["metric"], row["filter"]) == (
        "las_shapes_vqa",
        "exact_match",
        "first_word",
    )
    assert (row["model"], row["method"], row["T"], row["n"]) == ("tiny-qwen2_vl", "las", 8, 2)
    assert len(row["thresholds_hash"]) == 16
    assert np.isclose(row["delta"], row["value"] - row["ann_value"])
    assert row["delta_ci_low"] <= row["delta"] <= row["delta_ci_high"]
    record = json.loads((out / "metrics.json").read_text())
    assert record["task_set"] == "shapes_vqa" and record["model_id"] == "tiny-qwen2_vl"
    table = reporting.task_rows(load_records([out / "metrics.json"], "evaluate_vlm_tasks"))
    assert list(table["task"]) == ["las_shapes_vqa"] and list(table["T"]) == [8]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=tiny_opt"], "scores vision-language models.*task 'causal_lm'"),
        (["method=fas"], "method=fas needs the finetune_qcfs and calibrate_fas stages"),
    ],
)
def test_bad_configs_are_refused_before_loading(overrides, message):
    cfg = compose_stage("evaluate_vlm_tasks", *overrides)
    with pytest.raises(ConfigError, match=message):
        load_config(config_class("evaluate_vlm_tasks"), cfg)


def test_the_paper_vlm_set_names_lm_eval_image_tasks():
    """conf/task/paper_vlm.yaml names tasks lm-eval has (indexing them needs no network)."""
    from las.evaluation.harness import task_manager

    cfg = compose_stage("evaluate_vlm_tasks", "task=paper_vlm", "model=llava15_7b").task
    assert cfg.include_defaults and set(cfg.tasks) <= set(task_manager(True).all_tasks)
