"""Fit HG neurons: choose gate edges, fit each segment's FS sub-neuron (METHOD.md M4).

Each segment's FS neuron outputs ``offset + delta * q`` where ``q`` is the bit-serial code of the
input within the segment (see :class:`las.neurons.HGNeuron`). Given the code, that output is
linear in ``(offset, delta)``, so the fit is a convex weighted least-squares problem solved in
closed form per segment, with Lawson reweighting driving it toward the minimax (max-error) fit.
This replaces surrogate-gradient training of FS parameters: it reaches the global optimum of the
same model class and is deterministic. Segments are refined (doubled) until the maximum error on a
dense grid meets the tolerance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from las.fitting.functions import TargetFunction, target_function
from las.neurons.hg import HGNeuron
from las.neurons.mt import code_units

#: Bits of headroom kept below a segment's largest output when snapping its parameters to a
#: dyadic grid: every partial sum of the FS train is then exact in float64 (< 53 bits).
SNAP_BITS = 40


@dataclass(frozen=True)
class HGFitReport:
    """Error of a fitted HG neuron on a dense grid over its range."""

    function: str
    low: float
    high: float
    segments: int
    K: int
    error: str
    tolerance: float
    max_abs: float
    max_rel: float
    mean_abs: float

    @property
    def met(self) -> bool:
        """Whether the maximum error of the fitted kind is within the tolerance."""
        worst = self.max_rel if self.error == "relative" else self.max_abs
        return worst <= self.tolerance

    def as_dict(self) -> dict[str, float | int | str | bool]:
        """The report as a flat dict (for tables), including ``met``."""
        return {**asdict(self), "met": self.met}


def segment_edges(target: TargetFunction, low: float, high: float, per_unit: int) -> Tensor:
    """Float64 edges (exact in float32) covering ``[low, high]``.

    ``uniform``: multiples of ``1/per_unit`` (so unit intervals share one subdivision: the
    ``e^floor * e^frac`` hierarchy for exp). ``octave``: ``2**k (1 + j/per_unit)`` (the ``m 2**k``
    normalisation for 1/x, 1/sqrt, sqrt, x**2); needs ``low > 0``.
    """
    if target.partition == "uniform":
        first, last = math.floor(low * per_unit), math.ceil(high * per_unit)
        return torch.arange(first, max(last, first + 1) + 1, dtype=torch.float64) / per_unit
    if low <= 0:
        raise ValueError(f"{target.name}: octave partition needs low > 0, got {low:g}")
    k0, k1 = math.floor(math.log2(low)), math.ceil(math.log2(high))
    k1 = max(k1, k0 + 1)
    octaves = 2.0 ** torch.arange(k0, k1, dtype=torch.float64)
    steps = 1 + torch.arange(per_unit, dtype=torch.float64) / per_unit
    return torch.cat([(octaves[:, None] * steps[None, :]).reshape(-1), torch.tensor([2.0**k1])])


def _snap(offset: Tensor, delta: Tensor, K: int) -> tuple[Tensor, Tensor]:
    """Round parameters to a dyadic grid below each segment's largest output, then to float32."""
    peak = torch.maximum(offset.abs(), (offset + delta * (2**K - 1)).abs())
    grid = torch.where(peak > 0, 2.0 ** (torch.floor(torch.log2(peak)) - SNAP_BITS), 1.0)
    snapped = [(torch.round(p / grid) * grid).float() for p in (offset, delta)]
    return snapped[0], snapped[1]


def fit_segments(
    target: TargetFunction, edges: Tensor, K: int, samples: int = 65, lawson_steps: int = 12
) -> tuple[Tensor, Tensor]:
    """Fit ``(offset, delta)`` of every segment at once; returns float32 tensors ``[N]``."""
    lo, width = edges[:-1, None], (edges[1:] - edges[:-1])[:, None]
    x = lo + width * torch.linspace(0.0, 1.0 - 2.0**-K, samples, dtype=torch.float64)
    code = code_units(x - lo, width, K) / 2.0**K
    f = target.fn(x)
    scale = 1.0 / f.abs().clamp_min(1e-300) if target.error == "relative" else torch.ones_like(f)
    lawson = torch.full_like(f, 1.0 / samples)
    for _ in range(lawson_steps):
        u = lawson * scale**2
        s0, s1, s2 = u.sum(1), (u * code).sum(1), (u * code**2).sum(1)
        t0, t1 = (u * f).sum(1), (u * code * f).sum(1)
        det = (s0 * s2 - s1**2).clamp_min(1e-300)
        slope = (s0 * t1 - s1 * t0) / det
        offset = (t0 - slope * s1) / s0
        err = ((f - offset[:, None] - slope[:, None] * code) * scale).abs()
        lawson = lawson * err.clamp_min(1e-300)
        lawson = lawson / lawson.sum(1, keepdim=True)
    return _snap(offset, slope / 2.0**K, K)


def measure(neuron: HGNeuron, target: TargetFunction, points: int = 1 << 16) -> dict[str, float]:
    """Max abs, max relative and mean abs error of ``neuron`` on a dense grid plus all edges.

    The grid holds ``points`` evenly spaced inputs, every edge and a point just below every edge;
    the relative error skips points where ``|f| < 1e-6 max|f|``.
    """
    low, high = neuron.bounds
    edges = neuron.edges.double()
    grid = torch.cat([torch.linspace(low, high, points, dtype=torch.float64), edges])
    grid = torch.cat([grid, (edges[1:] - 2.0**-30 * (edges[1:] - edges[:-1]))])
    exact, approx = target.fn(grid), neuron.closed_form(grid)[0]
    abs_err = (approx - exact).abs()
    # Relative error is taken where the function is not ~0 (meaningless there for GELU/SiLU).
    significant = exact.abs() >= 1e-6 * exact.abs().max()
    rel_err = abs_err[significant] / exact.abs()[significant]
    return {
        "max_abs": float(abs_err.max()),
        "max_rel": float(rel_err.max()),
        "mean_abs": float(abs_err.mean()),
    }


def fit_hg_neuron(
    name: str,
    low: float | None = None,
    high: float | None = None,
    K: int = 16,
    tolerance: float | None = None,
    max_segments: int = 1 << 14,
) -> tuple[HGNeuron, HGFitReport]:
    """Fit an HG neuron for function ``name`` on ``[low, high]`` (default: the registry's range).

    Starts at 4 segments per unit (uniform) or per octave and doubles until the maximum error of
    the function's kind (absolute or relative) is within ``tolerance`` (default: the registry's),
    or ``max_segments`` would be exceeded (then the last fit is returned with ``met`` False).
    For even functions the range is of ``|x|``. Returns the neuron (float32 parameters) and its
    error report.
    """
    target = target_function(name)
    low = target.default_range[0] if low is None else float(low)
    high = target.default_range[1] if high is None else float(high)
    if not low < high:
        raise ValueError(f"{name}: need low < high, got [{low:g}, {high:g}]")
    tol = target.tolerance if tolerance is None else tolerance
    per_unit, best = 4, None
    while True:
        edges = segment_edges(target, low, high, per_unit)
        if best is not None and edges.numel() - 1 > max_segments:
            return best
        offset, delta = fit_segments(target, edges, K)
        neuron = HGNeuron(
            edges,
            delta,
            offset,
            K=K,
            symmetry=target.symmetry,
            name=name,
            partition=(target.partition, per_unit),
        )
        lo, hi = neuron.bounds
        report = HGFitReport(
            name, lo, hi, delta.numel(), K, target.error, tol, **measure(neuron, target)
        )
        best = (neuron, report)
        if report.met:
            return best
        per_unit *= 2
