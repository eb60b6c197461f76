"""Stage ``collect``: stream per-site statistics of the original model (``python -m las.collect``).

Outputs in ``output_dir``: ``stats.safetensors`` (statistics, roles, per-function samples),
``sites.csv`` (one row per site) and ``metrics.json``.
"""

from __future__ import annotations

from las import data, models
from las.calibration import collect_statistics
from las.calibration.store import load_stats, save_stats
from las.config import Bool, typed
from las.conversion.config import ConversionConfig
from las.stage import StageConfig, StageContext, StageResult, entry_point


@typed
class CollectConfig(StageConfig, stage="collect"):
    """``conf/collect.yaml``: the model, its calibration text, the sites to observe."""

    model: models.ModelSpec
    data: data.DataConfig
    conversion: ConversionConfig
    per_channel: Bool


def run(cfg: CollectConfig, ctx: StageContext) -> StageResult:
    """Collect statistics as configured."""
    loaded = models.load(cfg.model)
    batches = data.calibration_batches(loaded.tokenizer, cfg.data, cfg.model.task)
    observers = collect_statistics(
        loaded.model, batches, cfg.conversion, cfg.per_channel, inplace=True
    )
    stats = ctx.work / "stats.safetensors"
    save_stats(stats, observers, ctx.identity(loaded.model_id, loaded.revision))
    table = load_stats(stats).table()
    fields = {
        "model_id": loaded.model_id,
        "revision": loaded.revision,
        "sites": len(table),
        "tokens": int(sum(b["input_ids"].numel() for b in batches)),
    }
    return StageResult(fields, {"sites": table}, ["stats.safetensors", "sites.csv"])


main = entry_point(CollectConfig, run)

if __name__ == "__main__":
    main()
