"""Stage ``calibrate``: thresholds per site from the statistics (``python -m las.calibrate``).

Outputs in ``output_dir``: ``thresholds.safetensors``, ``thresholds.csv`` (chosen values, outlier
fraction and expected M7 error per site) and ``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from las import stage
from las.artifacts import Identity
from las.calibration.rules import choose_thresholds
from las.calibration.store import load_stats, save_thresholds
from las.conversion.sites import Kind
from las.provenance import config_hash
from las.tracking import record_stage


def run(cfg: DictConfig) -> Path:
    """Calibrate thresholds as configured; return the output folder."""
    out = stage.output_dir(cfg)
    spec = stage.model_spec(cfg.model)
    collected = load_stats(Path(cfg.stats), model_id=stage.expected_model_id(spec))
    rule, T = stage.rule_config(cfg.calibration), int(cfg.conversion.T)
    choices = {
        site: choose_thresholds(collected.stats[site], rule, T)
        for site, role in collected.roles.items()
        if role.kind is Kind.OAT
    }
    digest = config_hash(
        {
            "stats": collected.identity.config_hash,
            "calibration": stage.as_dict(cfg.calibration),
            "T": T,
        }
    )
    identity = Identity(collected.identity.model_id, collected.identity.revision, digest)
    table = save_thresholds(out / "thresholds.safetensors", choices, identity, {"rule": rule.name})
    table.to_csv(out / "thresholds.csv", index=False)
    fields = {
        "model_id": identity.model_id,
        "sites": len(table),
        "mean_outlier_fraction": float(table["outlier_fraction"].mean()),
        "max_expected_mse": float(table["expected_mse"].max()),
    }
    record_stage(
        out,
        "calibrate",
        cfg,
        digest,
        fields,
        tables={"thresholds": table},
        artifacts=[out / "thresholds.safetensors", out / "thresholds.csv"],
    )
    return out


@hydra.main(config_path="../conf", config_name="calibrate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
