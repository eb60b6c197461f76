"""Stage ``evaluate_vqa``: a converted tiny VLM next to its original."""

from __future__ import annotations

import json

import pandas as pd

from tests.stage_chain import run_stage


def test_vqa_stage_compares_a_converted_vlm(tmp_path):
    out = run_stage(
        "evaluate_vqa",
        "vlm=qwen2_vl",
        "eval_batches=2",
        "tracking=disabled",
        f"output_dir={tmp_path}",
    )
    (row,) = pd.read_csv(out / "vqa.csv").to_dict("records")
    assert row["weights"] == "tiny-random" and row["items"] == 6
    assert row["answer_top1_agreement"] >= 0.9 and row["logits_rel_error"] < 1e-2
    assert json.loads((out / "metrics.json").read_text())["stage"] == "evaluate_vqa"
