"""Artifacts of the calibration stages: statistics (``collect``), thresholds (``calibrate``) and
the per-site bits of an allocation (METHOD.md M12; written by ``convert``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from las.artifacts import Identity, read_artifact, write_artifact
from las.calibration.observe import ObserverFactory
from las.calibration.rules import ThresholdChoice
from las.calibration.stats import SiteStats
from las.conversion.sites import Kind, Role


@dataclass
class CollectedStats:
    """What ``collect`` produced: per-site statistics and roles, per-function input samples."""

    stats: dict[str, SiteStats]
    roles: dict[str, Role]
    samples: dict[str, Tensor]
    identity: Identity

    def table(self) -> pd.DataFrame:
        """One row per site: kind, function, count, min, max, abs-max, mean."""
        rows = [
            {
                "site": site,
                "kind": role.kind.value,
                "fn": role.fn,
                "count": s.count,
                "min": s.minimum,
                "max": s.maximum,
                "absmax": s.absmax,
                "mean": s.mean,
            }
            for site, role in self.roles.items()
            for s in [self.stats[site]]
        ]
        return pd.DataFrame(rows)


def save_stats(path: Path, observers: ObserverFactory, identity: Identity) -> None:
    """Write the statistics, roles and samples held by ``observers``."""
    tensors: dict[str, Tensor] = {}
    for site, stats in observers.stats.items():
        tensors |= stats.to_tensors(site)
    for fn, reservoir in observers.samples.items():
        tensors[f"samples.{fn}"] = reservoir.values
    roles = {site: [role.kind.value, role.fn] for site, role in observers.roles.items()}
    write_artifact(path, tensors, identity, {"roles": roles})


def load_stats(
    path: Path, model_id: str | None = None, revision: str | None = None
) -> CollectedStats:
    """Read a ``collect`` artifact (checking the model identity when given)."""
    tensors, identity, meta = read_artifact(path, "collect", model_id, revision)
    roles = {site: Role(Kind(kind), fn) for site, (kind, fn) in meta["roles"].items()}
    stats = {site: SiteStats.from_tensors(tensors, site) for site in roles}
    samples = {
        k.removeprefix("samples."): v for k, v in tensors.items() if k.startswith("samples.")
    }
    return CollectedStats(stats, roles, samples, identity)


def save_thresholds(
    path: Path, choices: Mapping[str, ThresholdChoice], identity: Identity, meta: Mapping
) -> pd.DataFrame:
    """Write thresholds per site; return the per-site report table."""
    tensors = {}
    for site, c in choices.items():
        tensors[f"{site}.theta_nor"] = torch.tensor(c.theta_nor, dtype=torch.float32)
        tensors[f"{site}.theta_out"] = torch.tensor(c.theta_out, dtype=torch.float32)
    write_artifact(path, tensors, identity, meta)
    return pd.DataFrame(
        [{"site": site, **vars(c)} for site, c in choices.items()],
        columns=["site", "theta_nor", "theta_out", "outlier_fraction", "expected_mse"],
    )


def load_thresholds(
    path: Path, model_id: str | None = None, revision: str | None = None
) -> tuple[dict[str, tuple[float, float]], Identity]:
    """Read a ``calibrate`` artifact: site -> (theta_nor, theta_out), and its identity."""
    tensors, identity, _ = read_artifact(path, "calibrate", model_id, revision)
    sites = {key.rsplit(".", 1)[0] for key in tensors}
    thresholds = {
        s: (float(tensors[f"{s}.theta_nor"]), float(tensors[f"{s}.theta_out"])) for s in sites
    }
    return thresholds, identity


def save_allocation(path: Path, bits: Mapping[str, int], identity: Identity, meta: Mapping) -> None:
    """Write the bits per OAT site of an allocation (M12) with its identity and record."""
    tensors = {site: torch.tensor(b, dtype=torch.int64) for site, b in bits.items()}
    write_artifact(path, tensors, identity, meta)


def load_allocation(
    path: Path, model_id: str | None = None, revision: str | None = None
) -> tuple[dict[str, int], Identity]:
    """Read an allocation written by ``convert``: site -> bits, and its identity."""
    tensors, identity, _ = read_artifact(path, "convert", model_id, revision)
    return {site: int(b) for site, b in tensors.items()}, identity
