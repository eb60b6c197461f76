"""The naive baseline (METHOD.md M10): rate-coded IF neurons with percentile thresholds.

Every site where LAS puts an OAT neuron gets a plain IF neuron (M9, soft reset, ``v(0) =
theta/2``), signed (a pair, one per sign: the sites carry signed activations) with ``theta``
the ``percentile``-quantile of ``|x|`` on the calibration statistics (threshold balancing);
attention probabilities get an unsigned IF neuron with ``theta = 1``. Nonlinearities (the FFN
activation, softmax's exp and 1/x, the norms' square and 1/sqrt) stay the exact float
functions, and so does the softmax's row max (rate codes have no bits to compare, M13).
Operators are those of LAS (:mod:`las.ops`), so the energy rules are the same. It is the
"without LAS" row: what rate coding alone gives at the same sites and the same ``T``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from torch import nn

from las.calibration.rules import FLOOR
from las.calibration.stats import SiteStats
from las.conversion import convert_with
from las.conversion.config import ConversionConfig
from las.conversion.factory import FloatNonlinearity, FloatSite
from las.conversion.sites import Kind, Role
from las.neurons import IFNeuron

if TYPE_CHECKING:
    from transformers import PreTrainedModel

#: Which parts of a naive model spike (tables).
SPIKING_PARTS = "every LAS OAT site (signed IF) and attention probabilities; nonlinearities float"


def naive_thresholds(
    stats: Mapping[str, SiteStats], roles: Mapping[str, Role], percentile: float
) -> dict[str, float]:
    """``theta`` per OAT site: the ``percentile``-quantile of ``|x|`` (at least ``FLOOR``)."""
    return {
        site: max(stats[site].quantile(percentile), FLOOR)
        for site, role in roles.items()
        if role.kind is Kind.OAT
    }


class NaiveFactory:
    """A :class:`las.conversion.sites.NeuronFactory` placing the naive baseline's neurons."""

    def __init__(self, thresholds: Mapping[str, float], cfg: ConversionConfig) -> None:
        self.thresholds, self.cfg, self.T = thresholds, cfg, cfg.T

    def __call__(self, site: str, role: Role) -> nn.Module:
        cfg = self.cfg
        if role.kind is Kind.HG:
            return FloatNonlinearity(role.fn)
        if role.kind is Kind.SCORE:  # the softmax keeps its float row max (priced, M8)
            return FloatSite()
        if role.kind is Kind.PROBABILITY:
            return IFNeuron(1.0, cfg.T, site=site, mode=cfg.mode)
        if site not in self.thresholds:
            raise ValueError(f"no naive threshold for site {site}: rerun collect for this model")
        theta = self.thresholds[site] * cfg.threshold_scale
        return IFNeuron(theta, cfg.T, site=site, mode=cfg.mode, signed=True)


def convert_naive(
    model: PreTrainedModel, thresholds: Mapping[str, float], cfg: ConversionConfig
) -> PreTrainedModel:
    """The naive conversion of ``model`` in place (``cfg``: ``T``, ``mode``, ``spike_attention``,
    ``softmax_offset``, ``convert_head``, ``threshold_scale``; ``oat``, ``hg`` and ``code`` are
    LAS's)."""
    return convert_with(model, NaiveFactory(thresholds, cfg), cfg)
