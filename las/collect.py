"""Stage ``collect``: stream per-site statistics of the original model (``python -m las.collect``).

Outputs in ``output_dir``: ``stats.safetensors`` (statistics, roles, per-function samples),
``sites.csv`` (one row per site) and ``metrics.json``.

``sequential=true`` collects layer by layer (:mod:`las.calibration.sequential`): one block's
weights in memory at a time, read from the model's safetensors checkpoint onto ``device``, with a
checkpoint per block in ``checkpoint_dir`` so a killed run resumes at the next block; the
artifact equals the whole-model one.
"""

from __future__ import annotations

from pathlib import Path

import torch

from las import data, models
from las.calibration import collect_statistics
from las.calibration.sequential import collect_sequential
from las.calibration.store import load_stats, save_stats
from las.config import Bool, Str, typed
from las.conversion.config import ConversionConfig
from las.stage import StageConfig, StageContext, StageResult, entry_point


@typed
class CollectConfig(StageConfig, stage="collect", paths=("checkpoint_dir",)):
    """``conf/collect.yaml``: the model, its calibration text, the sites to observe, and how.

    ``sequential``: layer by layer (module docstring); ``checkpoint_dir``: its per-block
    checkpoints (removed when the run completes); ``device``: where its blocks run (``cpu``,
    ``cuda``, ``cuda:1``; whole-model collect runs on the CPU).
    """

    model: models.ModelSpec
    data: data.DataConfig
    conversion: ConversionConfig
    per_channel: Bool
    sequential: Bool
    checkpoint_dir: Str
    device: Str

    def __post_init__(self) -> None:
        try:
            torch.device(self.device)
        except RuntimeError:
            raise ValueError(
                f"device {self.device!r} is no torch device (cpu, cuda, cuda:1)"
            ) from None
        if self.device != "cpu" and not self.sequential:
            raise ValueError(
                f"device={self.device!r} needs sequential=true (whole-model collect runs on cpu)"
            )


def run(cfg: CollectConfig, ctx: StageContext) -> StageResult:
    """Collect statistics as configured."""
    if cfg.sequential:
        loaded, checkpoint = models.load_empty(cfg.model, ctx.work)
        batches = data.calibration_batches(loaded.tokenizer, cfg.data, cfg.model.task)
        observers = collect_sequential(
            loaded.model,
            checkpoint,
            batches,
            Path(cfg.checkpoint_dir),
            ctx.config_hash,
            cfg.conversion,
            cfg.per_channel,
            cfg.device,
        )
    else:
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
