"""Stage ``evaluate_tasks``: paired ANN/SNN rows of the converted folder, on the same items."""

from __future__ import annotations

import json

import pandas as pd


def test_task_rows_pair_the_ann_and_the_converted_model(chain):
    out = chain.run("evaluate_tasks")
    rows = pd.read_csv(out / "tasks.csv")
    tasks = {"las_mmlu_embedded", "las_sentiment", "las_topic"}
    assert set(rows["task"]) == tasks and (rows["n"] == 2).all()
    convert = json.loads((chain.dir("convert") / "metrics.json").read_text())
    assert set(rows["thresholds_hash"]) == {convert["thresholds_hash"]}
    assert set(rows["T"]) == {16} and set(rows["method"]) == {"las"}
    record = json.loads((out / "metrics.json").read_text())
    assert record["task_set"] == "embedded" and record["model_id"] == "tiny-llama"


def test_baseline_task_rows_come_from_the_same_stage(baselines, chain, tmp_path):
    from tests.stage_chain import run_stage

    overrides = [
        o for o in chain.overrides("evaluate_tasks") if not o.startswith(("output", "conv"))
    ]
    folder = baselines.dir("convert_fas")
    out = run_stage(
        "evaluate_tasks", *overrides, "method=fas", f"converted={folder}", f"output_dir={tmp_path}"
    )
    rows = pd.read_csv(out / "tasks.csv")
    assert set(rows["method"]) == {"fas"} and set(rows["T"]) == {4}
    assert rows["delta_ci_low"].le(rows["delta"]).all()
