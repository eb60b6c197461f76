"""Stage ``calibrate_fas``: FAS Stage 2, IF thresholds and initial potentials (M9).

``python -m las.calibrate_fas`` loads the fine-tuned QCFS model (``finetune_qcfs``) and
calibrates the IF neuron of every QCFS site for ``conversion.T`` steps, coarse (per site) then
fine (per channel, not per position; :mod:`las.fas.calibration`). Outputs in ``output_dir``:
``fas.safetensors`` (``<site>.theta`` and ``<site>.initial`` per channel, with identity and
lineage), ``fas_sites.csv`` (per site: ``lam``, threshold and initial-potential summaries),
``calibration_curve.csv`` (training loss per step and phase) and ``metrics.json`` with the
alignment loss on held-out text before and after calibration.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from las import data, models
from las.artifacts import write_artifact
from las.config import Str, plain, typed
from las.conversion.config import ConversionConfig
from las.fas.calibration import (
    FASCalibrationConfig,
    align_sites,
    calibrate,
    held_out_loss,
    neuron_parameters,
)
from las.fas.qcfs import load_qcfs_model
from las.stage import Input, StageConfig, StageContext, StageResult, entry_point

ARTIFACT = "fas.safetensors"


@typed
class CalibrateFASConfig(StageConfig, stage="calibrate_fas", paths=("weights",)):
    """``conf/calibrate_fas.yaml``: the model, its text, ``T``, the budget, the Stage 1 weights."""

    model: models.ModelSpec
    data: data.DataConfig
    conversion: ConversionConfig
    fas: FASCalibrationConfig
    weights: Str

    def inputs(self) -> dict[str, Input]:
        expect = {"finetune_qcfs.model": plain(self.model)}
        return {"weights": Input(Path(self.weights), "finetune_qcfs", expect)}


def run(cfg: CalibrateFASConfig, ctx: StageContext) -> StageResult:
    """Calibrate as configured."""
    loaded = models.load(cfg.model)
    model, T, w = loaded.model, cfg.conversion.T, cfg.fas.kl_weight
    sites, _ = load_qcfs_model(model, Path(cfg.weights), loaded.model_id, loaded.revision)
    aligned = align_sites(model, sites, T)
    batches = data.calibration_batches(loaded.tokenizer, cfg.data)
    held_out = data.evaluation_batches(loaded.tokenizer, cfg.data)
    before = held_out_loss(model, aligned, held_out, w)
    curve = calibrate(model, aligned, batches, cfg.fas)
    after = held_out_loss(model, aligned, held_out, w)
    tensors = neuron_parameters(aligned)
    identity = ctx.identity(loaded.model_id, loaded.revision)
    meta = {"T": T, "levels": next(iter(aligned.values())).levels, "granularity": "channel"}
    write_artifact(ctx.work / ARTIFACT, tensors, identity, meta)
    sites_table = pd.DataFrame(
        [
            {
                "site": name,
                "lam": float(site.lam),
                "theta_mean": float(tensors[f"{name}.theta"].mean()),
                "theta_min": float(tensors[f"{name}.theta"].min()),
                "theta_max": float(tensors[f"{name}.theta"].max()),
                "initial_mean": float(tensors[f"{name}.initial"].mean()),
            }
            for name, site in aligned.items()
        ]
    )
    curve_table = pd.DataFrame(
        [
            {"phase": phase, "step": i, "loss": loss}
            for phase, losses in curve.items()
            for i, loss in enumerate(losses, 1)
        ],
        columns=["phase", "step", "loss"],
    )
    fields = {
        "model_id": identity.model_id,
        "revision": identity.revision,
        "T": T,
        "granularity": "per channel (not per position)",
        **{f"held_out_{k}_before": v for k, v in before.items()},
        **{f"held_out_{k}_after": v for k, v in after.items()},
    }
    tables = {"fas_sites": sites_table, "calibration_curve": curve_table}
    return StageResult(fields, tables, [ARTIFACT, "fas_sites.csv", "calibration_curve.csv"])


main = entry_point(CalibrateFASConfig, run)

if __name__ == "__main__":
    main()
