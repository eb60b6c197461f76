"""Threshold rules: choose (theta_nor, theta_out) per site from its statistics (METHOD.md M7).

``theta_out = absmax * (1 + margin)`` (no clipping on calibration data) for every rule; the rules
differ in ``theta_nor``:

* ``quantile``: the ``q``-quantile of ``|x|`` (from the histogram, rounded up to a bin edge);
* ``mse``: the bin edge minimising M7's expected quantisation error
  ``P(|x| < t) (t/2^T)^2/12 + P(|x| >= t) (theta_out/2^T)^2/12``;
* ``fixed``: values given in the config (hand-set constants, ablations).

A rule may also carry an ``allocation`` (METHOD.md M12, :mod:`las.calibration.allocation`): bits
per site chosen on the calibration text for these thresholds, computed by ``convert``, which has
the model, the HG bank and the conversion config it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from pydantic import Field

from las.calibration.allocation import AllocationConfig
from las.calibration.stats import SiteStats, bin_upper_edges
from las.config import Fraction, PositiveFloat, typed

#: Threshold used for a site that only ever saw zeros.
FLOOR = 1e-6


@typed
class RuleConfig:
    """Settings of a threshold rule (see module docstring; the ``calibration`` config group).

    ``q`` in (0, 1); ``margin`` >= 0; ``theta_nor`` < ``theta_out``, both > 0, given for ``fixed``
    only (the other rules choose them: a value given there would be ignored, so it is refused).
    ``allocation``: the per-site bit allocation rule (M12), or None for ``T`` bits everywhere.
    """

    name: Literal["mse", "quantile", "fixed"] = "mse"
    q: Fraction = 0.99
    # theta_out = 1.25 absmax: unseen activations up to 1.25x the calibration maximum pass
    # unclipped, for less than one bit of the outlier neuron's resolution.
    margin: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] = 0.25
    theta_nor: PositiveFloat | None = None
    theta_out: PositiveFloat | None = None
    allocation: AllocationConfig | None = None

    def __post_init__(self) -> None:
        given = self.theta_nor is not None, self.theta_out is not None
        if self.name == "fixed" and not all(given):
            raise ValueError("rule 'fixed' needs theta_nor and theta_out in the config")
        if self.name != "fixed" and any(given):
            raise ValueError(f"rule {self.name!r} chooses theta_nor/theta_out: leave them null")
        if self.name == "fixed" and not self.theta_nor < self.theta_out:
            raise ValueError(f"theta_nor {self.theta_nor} must be < theta_out {self.theta_out}")


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen thresholds of one site and what they imply on the calibration data."""

    theta_nor: float
    theta_out: float
    outlier_fraction: float
    expected_mse: float


def expected_mse(
    stats: SiteStats, theta_nor: float, theta_out: float, T: int
) -> tuple[float, float]:
    """(M7 expected squared error, share of values routed to the outlier neuron)."""
    below = float(stats.hist[bin_upper_edges() < theta_nor].sum()) / max(stats.count, 1)
    mse = (below * theta_nor**2 + (1 - below) * theta_out**2) / (12 * 4.0**T)
    return mse, 1 - below


def _outer(stats: SiteStats, cfg: RuleConfig) -> float:
    return max(stats.absmax * (1 + cfg.margin), FLOOR)


def _quantile(stats: SiteStats, cfg: RuleConfig, T: int) -> tuple[float, float]:
    return stats.quantile(cfg.q), _outer(stats, cfg)


def _mse(stats: SiteStats, cfg: RuleConfig, T: int) -> tuple[float, float]:
    out = _outer(stats, cfg)
    edges = bin_upper_edges()
    share_below = torch.cat([torch.zeros(1, dtype=torch.int64), stats.hist.cumsum(0)[:-1]])
    share_below = share_below.double() / max(stats.count, 1)
    cost = share_below * edges**2 + (1 - share_below) * out**2
    cost[edges >= out] = float("inf")
    return float(edges[int(cost.argmin())]), out


def _fixed(stats: SiteStats, cfg: RuleConfig, T: int) -> tuple[float, float]:
    return float(cfg.theta_nor), float(cfg.theta_out)


RULES: dict[str, Callable[[SiteStats, RuleConfig, int], tuple[float, float]]] = {
    "quantile": _quantile,
    "mse": _mse,
    "fixed": _fixed,
}


def choose_thresholds(stats: SiteStats, cfg: RuleConfig, T: int) -> ThresholdChoice:
    """Apply rule ``cfg.name`` to one site; ``theta_nor`` is kept below ``theta_out / 2``-ish.

    The normal threshold is capped at half the outlier threshold so that the two sub-neurons stay
    distinct (a site whose values all sit near its maximum needs no outlier neuron, and loses
    nothing by this: values above ``theta_nor`` use ``theta_out``'s resolution).
    """
    nor, out = RULES[cfg.name](stats, cfg, T)
    if cfg.name != "fixed":
        nor = min(max(nor, out * 2.0**-24), out / 2)
    mse, outliers = expected_mse(stats, nor, out, T)
    return ThresholdChoice(nor, out, outliers, mse)
