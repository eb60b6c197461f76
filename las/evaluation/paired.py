"""Paired SNN-vs-ANN differences with confidence intervals, from per-item lm-eval samples.

Both models score the same items, so the interval of the difference comes from the per-item
differences (paired), not from two independent standard errors: far tighter when the models
mostly agree. Mean-type metrics (``acc``) use the normal interval of the mean difference;
ratio-type metrics (perplexities, bits per byte: per-item ``(log-likelihood, weight)`` pairs)
use a seeded paired bootstrap over items (:func:`resample`, :func:`bootstrap_difference`, which
the GLUE path uses for its corpus-level metrics too: F1, Matthews, correlations).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

Z95 = 1.959963984540054
BOOTSTRAP = 2000


@dataclass(frozen=True)
class Difference:
    """``snn - ann`` of one metric, its 95 % interval and the items it rests on."""

    delta: float
    low: float
    high: float
    n: int

    def verdict(self, higher_is_better: bool = True) -> str:
        """``snn better`` / ``snn worse`` only when the interval excludes 0, else ``equal``."""
        if self.low > 0 or self.high < 0:
            return "snn better" if (self.low > 0) == higher_is_better else "snn worse"
        return "equal within 95% CI"


def aggregate(metric: str, values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """lm-eval's aggregation of ``metric`` over the last dim (mean, or a perplexity form)."""
    if weights is None:
        return values.mean(-1)
    mean_ll = values.sum(-1) / weights.sum(-1)
    if metric == "bits_per_byte":
        return -mean_ll / math.log(2)
    return torch.exp(-mean_ll)


def resample(n: int, seed: int = 0) -> torch.Tensor:
    """``[BOOTSTRAP, n]`` item indices of the seeded paired bootstrap (rows: resampled sets of
    the ``n`` items, the same rows for both models)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(n, (BOOTSTRAP, n), generator=gen)


def bootstrap_difference(delta: float, boot: torch.Tensor, n: int) -> Difference:
    """``delta`` on ``n`` items with the 95 % percentile interval of ``boot``: its ``snn - ann``
    values on the rows of :func:`resample` (for a metric of the whole item set: perplexity, F1,
    a correlation)."""
    q = torch.tensor([0.025, 0.975], dtype=torch.float64)
    low, high = torch.quantile(boot.to(torch.float64), q)
    return Difference(delta, float(low), float(high), n)


def paired_difference(
    metric: str, ann: Sequence, snn: Sequence, seed: int = 0
) -> Difference | None:
    """The paired difference of ``metric`` over items given in the same order for both models.

    ``ann``/``snn`` hold per-item values: numbers, or ``(log-likelihood, weight)`` pairs for
    perplexity-type metrics. Returns None when items are not numeric (e.g. generated text).
    """
    if len(ann) != len(snn) or not ann:
        raise ValueError(f"{metric}: paired samples need equal, non-zero counts")
    if isinstance(ann[0], (tuple, list)):
        a, s = (torch.tensor(v, dtype=torch.float64) for v in (ann, snn))
        if not torch.equal(a[:, 1], s[:, 1]):
            raise ValueError(f"{metric}: items differ between the two runs (weights disagree)")
        idx = resample(len(a), seed)
        delta = aggregate(metric, s[:, 0], s[:, 1]) - aggregate(metric, a[:, 0], a[:, 1])
        boot = aggregate(metric, s[idx, 0], s[idx, 1]) - aggregate(metric, a[idx, 0], a[idx, 1])
        return bootstrap_difference(float(delta), boot, len(a))
    if not isinstance(ann[0], (int, float, bool)):
        return None
    d = torch.tensor(snn, dtype=torch.float64) - torch.tensor(ann, dtype=torch.float64)
    half = Z95 * float(d.std()) / math.sqrt(len(d)) if len(d) > 1 else math.inf
    mean = float(d.mean())
    return Difference(mean, mean - half, mean + half, len(d))
