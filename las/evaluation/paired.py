"""Paired SNN-vs-ANN differences with confidence intervals, from per-item lm-eval samples.

Both models score the same items, so the interval of the difference comes from the per-item
differences (paired), not from two independent standard errors: far tighter when the models
mostly agree. Mean-type metrics (``acc``) use the normal interval of the mean difference;
ratio-type metrics (perplexities, bits per byte: per-item ``(log-likelihood, weight)`` pairs)
and rank correlations (``spearman``: per-item ``(prediction, reference)`` pairs, e.g. a cosine
similarity and the human score) use a seeded paired bootstrap over items. :func:`metric_row` is
the row every task table shares (lm-eval tasks, encoder probes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from scipy.stats import rankdata

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


def spearman(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation of ``x`` and ``y`` over the last dim (ties: average ranks,
    as ``scipy.stats.spearmanr``): the Pearson correlation of the ranks."""
    rx, ry = (torch.from_numpy(rankdata(v.numpy(), axis=-1)) for v in (x, y))
    rx, ry = rx - rx.mean(-1, keepdim=True), ry - ry.mean(-1, keepdim=True)
    return (rx * ry).sum(-1) / ((rx * rx).sum(-1) * (ry * ry).sum(-1)).sqrt()


def aggregate(metric: str, values: torch.Tensor, second: torch.Tensor | None) -> torch.Tensor:
    """The aggregation of ``metric`` over the last dim: lm-eval's mean or perplexity form
    (``second``: the per-item weights), or ``spearman`` (``second``: the references)."""
    if second is None:
        return values.mean(-1)
    if metric == "spearman":
        return spearman(values, second)
    mean_ll = values.sum(-1) / second.sum(-1)
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

    ``ann``/``snn`` hold per-item values: numbers, ``(log-likelihood, weight)`` pairs for
    perplexity-type metrics or ``(prediction, reference)`` pairs for ``spearman``. Returns None
    when items are not numeric (e.g. generated text).
    """
    if len(ann) != len(snn) or not ann:
        raise ValueError(f"{metric}: paired samples need equal, non-zero counts")
    if isinstance(ann[0], (tuple, list)):
        a, s = (torch.tensor(v, dtype=torch.float64) for v in (ann, snn))
        if not torch.equal(a[:, 1], s[:, 1]):
            raise ValueError(
                f"{metric}: items differ between the two runs (weights or references disagree)"
            )
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


def metric_row(
    task: str,
    metric: str,
    n: int,
    snn: tuple[float, float],
    ann: tuple[float, float],
    diff: Difference | None,
    higher_is_better: bool = True,
    filt: str = "none",
) -> dict[str, Any]:
    """The fields of one task table row: ``snn``/``ann`` as ``(value, stderr)``, the paired
    ``diff`` (None: not numeric, ``verdict`` ``n/a``) and its verdict."""
    nan = float("nan")
    return {
        "task": task,
        "metric": metric,
        "filter": filt,
        "value": snn[0],
        "stderr": snn[1],
        "n": n,
        "ann_value": ann[0],
        "ann_stderr": ann[1],
        "delta": diff.delta if diff else nan,
        "delta_ci_low": diff.low if diff else nan,
        "delta_ci_high": diff.high if diff else nan,
        "verdict": diff.verdict(higher_is_better) if diff else "n/a",
    }
