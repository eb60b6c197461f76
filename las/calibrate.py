"""Stage ``calibrate``: thresholds per site from the statistics (``python -m las.calibrate``).

Outputs in ``output_dir``: ``thresholds.safetensors``, ``thresholds.csv`` (chosen values, outlier
fraction and expected M7 error per site) and ``metrics.json``. The statistics must have been
collected for the configured model.
"""

from __future__ import annotations

from pathlib import Path

from las.calibration.rules import RuleConfig, choose_thresholds
from las.calibration.store import load_stats, save_thresholds
from las.config import Str, plain, typed
from las.conversion.config import ConversionConfig
from las.conversion.sites import THRESHOLD_KINDS
from las.models import ModelSpec
from las.stage import Input, StageConfig, StageContext, StageResult, entry_point


@typed
class CalibrateConfig(StageConfig, stage="calibrate", paths=("stats",)):
    """``conf/calibrate.yaml``: the threshold rule, the time steps it targets, the statistics."""

    model: ModelSpec
    calibration: RuleConfig
    conversion: ConversionConfig
    stats: Str

    def inputs(self) -> dict[str, Input]:
        return {"stats": Input(Path(self.stats), "collect", {"collect.model": plain(self.model)})}


def run(cfg: CalibrateConfig, ctx: StageContext) -> StageResult:
    """Calibrate thresholds as configured."""
    collected = load_stats(Path(cfg.stats))
    choices = {
        site: choose_thresholds(collected.stats[site], cfg.calibration, cfg.conversion.T)
        for site, role in collected.roles.items()
        if role.kind in THRESHOLD_KINDS
    }
    identity = ctx.identity(collected.identity.model_id, collected.identity.revision)
    meta = {"rule": cfg.calibration.name}
    table = save_thresholds(ctx.work / "thresholds.safetensors", choices, identity, meta)
    fields = {
        "model_id": identity.model_id,
        "calibration": cfg.calibration.name,
        "sites": len(table),
        "mean_outlier_fraction": float(table["outlier_fraction"].mean()),
        "max_expected_mse": float(table["expected_mse"].max()),
    }
    return StageResult(fields, {"thresholds": table}, ["thresholds.safetensors", "thresholds.csv"])


main = entry_point(CalibrateConfig, run)

if __name__ == "__main__":
    main()
