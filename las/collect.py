"""Stage ``collect``: stream per-site statistics of the original model (``python -m las.collect``).

Outputs in ``output_dir``: ``stats.safetensors`` (statistics, roles, per-function samples),
``sites.csv`` (one row per site) and ``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from las import data, models, stage
from las.artifacts import Identity
from las.calibration import collect_statistics
from las.calibration.store import load_stats, save_stats
from las.tracking import record_stage


def run(cfg: DictConfig) -> Path:
    """Collect statistics as configured; return the output folder."""
    out = stage.output_dir(cfg)
    loaded = models.load(stage.model_spec(cfg.model))
    batches = data.calibration_batches(
        loaded.tokenizer, stage.as_dict(cfg.data), stage.model_spec(cfg.model).task
    )
    observers = collect_statistics(
        loaded.model,
        batches,
        stage.conversion_config(cfg.conversion),
        cfg.per_channel,
        inplace=True,
    )
    digest = stage.stage_hash(cfg, "model", "data", "conversion", "per_channel")
    save_stats(
        out / "stats.safetensors", observers, Identity(loaded.model_id, loaded.revision, digest)
    )
    table = load_stats(out / "stats.safetensors").table()
    table.to_csv(out / "sites.csv", index=False)
    fields = {
        "model_id": loaded.model_id,
        "revision": loaded.revision,
        "sites": len(table),
        "tokens": int(sum(b["input_ids"].numel() for b in batches)),
    }
    record_stage(
        out,
        "collect",
        cfg,
        digest,
        fields,
        tables={"sites": table},
        artifacts=[out / "stats.safetensors", out / "sites.csv"],
    )
    return out


@hydra.main(config_path="../conf", config_name="collect", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
