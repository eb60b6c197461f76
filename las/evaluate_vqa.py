"""Stage ``evaluate_vqa``: a converted VLM next to its original on image-question batches.

``python -m las.evaluate_vqa vlm=llava`` builds the tiny random VLM of :mod:`las.arch.tiny`
(LLaVA or Qwen2-VL: no VLM weights exist offline), calibrates it in memory on synthetic
image-question batches (seeds ``0 .. calib_batches-1``), converts it (vision tower, projector or
patch merger, language model) and compares it with the original on held-out batches (other
seeds) with :func:`las.vqa.compare_vqa`. Outputs ``vqa.csv`` (one row) and ``metrics.json``;
every row says ``weights = tiny-random``.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from las import convert_model
from las.arch.tiny import TINY_RANDOM, tiny_model, tiny_vqa_batch
from las.calibration import calibrate_model
from las.calibration.rules import RuleConfig
from las.config import PositiveInt, typed
from las.conversion.config import ConversionConfig
from las.stage import StageConfig, StageContext, StageResult, entry_point
from las.vqa import compare_vqa

#: Seeds of held-out batches start here (calibration uses 0 .. calib_batches - 1).
EVAL_SEED = 1000


@typed
class EvaluateVQAConfig(StageConfig, stage="evaluate_vqa"):
    """``conf/evaluate_vqa.yaml``: which tiny VLM, its conversion and the batch counts."""

    vlm: Literal["llava", "qwen2_vl"]
    conversion: ConversionConfig
    calibration: RuleConfig
    calib_batches: PositiveInt
    eval_batches: PositiveInt
    batch_size: PositiveInt


def run(cfg: EvaluateVQAConfig, ctx: StageContext) -> StageResult:
    """Calibrate, convert and compare the tiny VLM as configured."""
    model = tiny_model(cfg.vlm)
    calib = [
        tiny_vqa_batch(model, cfg.batch_size, seed).scoring_inputs()
        for seed in range(cfg.calib_batches)
    ]
    calibration, _ = calibrate_model(model, calib, cfg.conversion, cfg.calibration)
    snn = convert_model(model, calibration, cfg.conversion)
    held_out = [
        tiny_vqa_batch(model, cfg.batch_size, EVAL_SEED + i) for i in range(cfg.eval_batches)
    ]
    row = {
        "model": f"tiny_{cfg.vlm}",
        "task": "vqa",
        "method": "las",
        "T": cfg.conversion.T,
        **compare_vqa(model, snn, held_out, weights=TINY_RANDOM),
    }
    return StageResult(row, {"vqa": pd.DataFrame([row])}, ["vqa.csv"])


main = entry_point(EvaluateVQAConfig, run)

if __name__ == "__main__":
    main()
