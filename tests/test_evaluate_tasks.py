"""Stage ``evaluate_tasks``: paired ANN/SNN rows of the converted folder, on the same items."""

from __future__ import annotations

import json

import pandas as pd


def test_task_rows_pair_the_ann_and_the_converted_model(chain):
    out = chain.run("evaluate_tasks")
    rows = pd.read_csv(out / "tasks.csv")
    assert set(rows["task"]) == {"las_mmlu_embedded", "las_prose_ppl"} and (rows["n"] == 2).all()
    convert = json.loads((chain.dir("convert") / "metrics.json").read_text())
    assert set(rows["thresholds_hash"]) == {convert["thresholds_hash"]}
    assert set(rows["T"]) == {16} and set(rows["method"]) == {"las"}
    record = json.loads((out / "metrics.json").read_text())
    assert record["task_set"] == "embedded" and record["model_id"] == "tiny-llama"
