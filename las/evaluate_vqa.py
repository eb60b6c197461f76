"""Stage ``evaluate_vqa``: a converted VLM next to its original on image-question batches.

``python -m las.evaluate_vqa vlm=llava`` builds the tiny random VLM of :mod:`las.arch.tiny`
(LLaVA or Qwen2-VL: no VLM weights exist offline), calibrates it in memory on synthetic
image-question batches (seeds ``0 .. calib_batches-1``), converts it (vision tower, projector or
patch merger, language model) and compares it with the original on held-out batches (other
seeds) with :func:`las.vqa.compare_vqa`. Outputs ``vqa.csv`` (one row) and ``metrics.json``;
every row says ``weights = tiny-random``.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from las import convert, stage
from las.arch.tiny import TINY_RANDOM, VLM_BUILDERS, tiny_model, tiny_vqa_batch
from las.calibration import calibrate
from las.provenance import config_hash
from las.tracking import record_stage
from las.vqa import compare_vqa

#: Seeds of held-out batches start here (calibration uses 0 .. calib_batches - 1).
EVAL_SEED = 1000


def run(cfg: DictConfig) -> Path:
    """Evaluate as configured; return the output folder."""
    if cfg.vlm not in VLM_BUILDERS:
        raise ValueError(f"unknown tiny VLM {cfg.vlm!r}; known: {', '.join(sorted(VLM_BUILDERS))}")
    out = stage.output_dir(cfg)
    model = tiny_model(cfg.vlm)
    conversion = stage.conversion_config(cfg.conversion)
    calib = [
        tiny_vqa_batch(model, cfg.batch_size, seed).scoring_inputs()
        for seed in range(cfg.calib_batches)
    ]
    calibration, _ = calibrate(model, calib, conversion, stage.rule_config(cfg.calibration))
    snn = convert(model, calibration, conversion)
    held_out = [
        tiny_vqa_batch(model, cfg.batch_size, EVAL_SEED + i) for i in range(cfg.eval_batches)
    ]
    row = {
        "model": f"tiny_{cfg.vlm}",
        "task": "vqa",
        "method": "las",
        "T": conversion.T,
        **compare_vqa(model, snn, held_out, weights=TINY_RANDOM),
    }
    pd.DataFrame([row]).to_csv(out / "vqa.csv", index=False)
    digest = config_hash(
        {k: stage.as_dict(cfg[k]) for k in ("conversion", "calibration")}
        | {k: cfg[k] for k in ("vlm", "calib_batches", "eval_batches", "batch_size")}
    )
    record_stage(out, "evaluate_vqa", cfg, digest, row, {"vqa": pd.DataFrame([row])})
    return out


@hydra.main(config_path="../conf", config_name="evaluate_vqa", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
