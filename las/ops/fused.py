"""The attention map's softmax in fast mode as two fused element-wise passes (M5 softmax, M6).

:func:`las.ops.functional.spiking_softmax` is the definition: one function of a backend for both
modes. On the ``n x n`` attention map its fast mode is a chain of some forty element-wise tensor
operations (row max, shift, gate, the HG exp closed form in float64, the product with the row's
inverse, the MT(tau = 1) code of each probability), each a full pass over the map. This module
evaluates the same closed forms in two fused passes, compiled by ``torch.compile`` (inductor:
C++ on CPU, Triton on CUDA) on the device the tensors live on:

1. :func:`exp_map`: offset, gate, HG exp, gate (and the clamp count);
2. :func:`probability_code`: ``e * (1/sum)``, then the MT code.

The row sum and the HG 1/x of the row sums stay eager, exactly as the generic path computes them
(a compiled reduction could sum in another order). Contract, tested bit for bit against the
generic path (``tests/ops/test_fused.py``): :func:`attention_softmax` returns the very tensor
the generic fast mode returns, raises the same errors and tallies the same clamp counts.

Numerics: the HG gate and code are computed in float32, exact for a uniform partition with a
power-of-two subdivision ``m`` (see :func:`uniform_code`); the segment's output ``offset +
delta q`` is a dyadic number of up to 41 bits (the fit's snapping, :mod:`las.fitting.hg_fit`),
which float32 cannot hold, so that one multiply-add runs in float64 and is rounded once, as the
generic path does (in registers: the fused kernel holds no float64 tensor). The MT re-check of
quotients that land on an integer (:func:`las.neurons.mt.code_units`) is applied branch-free.
Every product before an addition is exact, so a compiler's multiply-add contraction (FMA) cannot
change a result.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from las.neurons.hg import HGNeuron
from las.neurons.mt import MTNeuron

#: Maps with fewer elements run the generic path (a compile costs seconds; small maps are cheap).
COMPILE_MIN_ELEMENTS = 1 << 18
#: ``LAS_COMPILE=0`` turns the fused path off (the generic path then runs everywhere).
ENABLED = os.environ.get("LAS_COMPILE", "1") != "0"


def uniform_code(x: Tensor, low: float, high: float, m: int, first: int, n: int, K: int):
    """(segment, code ``q``) of HG inputs ``x`` on a uniform partition, in ``x``'s float dtype.

    Segments are ``[(first + i)/m, (first + i + 1)/m)``, ``i < n``; ``m`` a power of two. The
    generic path computes ``q = floor((clamp(x) - left) 2**K m)`` in float64; here ``j =
    floor(clamp(x) m 2**K)`` (a power-of-two scaling of a float, then a floor: exact) and ``q =
    min(j - (first + seg) 2**K, 2**K - 1)``. ``j`` and ``(first + seg) 2**K`` are exactly
    representable integers whose difference is an integer in ``[0, 2**K]``, so the IEEE
    subtraction is exact: ``q`` is the exact floor. The float64 path computes the exact floor too
    (``clamp(x) - left`` is exact in float64 except for ``|x| < 2**-30 / m`` just below an edge
    at 0, where both land on the cap ``2**K - 1``); M4, tested against it.
    """
    clamped = x.clamp(low, high)
    seg = (torch.floor(clamped * m) - first).clamp(0, n - 1)
    j = torch.floor(clamped * float(m * 2**K))
    q = (j - (seg + first) * float(2**K)).clamp(max=2.0**K - 1)
    return clamped, seg, q


def exp_map(
    scores: Tensor,
    keep: Tensor | None,
    first_offset: bool,
    offset64: Tensor,
    delta64: Tensor,
    layout: tuple[float, float, int, int, int, int],
) -> tuple[Tensor, Tensor]:
    """Pass 1: ``(e, clamped count)`` of the offset, gated scores through HG exp.

    Same tensor operations as the generic fast path (:func:`las.ops.functional.spiking_softmax`
    with ``FastSim``), element by element; where an input of the exp is not finite ``e`` is NaN
    (so the row sums tell the caller, without a second reduction over the map).
    """
    if first_offset:
        shifted = scores - scores[..., :1]
    else:
        masked = scores if keep is None else scores.masked_fill(~keep, float("-inf"))
        reference = masked.amax(-1, keepdim=True)
        reference = torch.where(torch.isfinite(reference), reference, torch.zeros_like(reference))
        shifted = scores - reference
    if keep is not None:
        gate = keep.to(scores.dtype)
        shifted = shifted * gate
    clamped, seg, q = uniform_code(shifted, *layout)
    outside = (clamped != shifted).sum()
    index = seg.nan_to_num(0.0).long()  # NaN inputs (reported by the caller) index safely
    e = torch.addcmul(offset64[index], delta64[index], q.double()).to(scores.dtype)
    if keep is not None:
        e = e * gate
    return torch.where(torch.isfinite(shifted), e, float("nan")), outside


def probability_code(e: Tensor, inverse: Tensor, tau: Tensor, T: int, dyadic: bool) -> Tensor:
    """Pass 2: the MT code value (M1) of ``e * inverse``, with the exact re-check.

    ``dyadic``: ``tau`` is a power of two, so ``|p| 2**T / tau`` is exact and the re-check of
    quotients landing on an integer (:func:`las.neurons.mt.code_units`) can never fire.
    """
    p = e * inverse
    magnitude = p.abs()
    units = magnitude * 2.0**T / tau
    q = torch.floor(units)
    if not dyadic:
        landed = (q == units) & (q > 0)
        over = q.double() * tau.double() > magnitude.double() * 2.0**T
        q = q - (landed & over).to(q.dtype)
    q = torch.clamp(q, max=2.0**T - 1)
    return torch.copysign(q * (tau * 2.0**-T), p)


_compiled: dict[str, Callable] = {}


def _run(name: str, fn: Callable, *args):
    """``fn(*args)`` compiled (once per function, dynamic shapes); eager if compiling fails."""
    global ENABLED
    if name not in _compiled:
        _compiled[name] = torch.compile(fn, dynamic=True)
    try:
        return _compiled[name](*args)
    except Exception as err:  # no C++ compiler, unsupported backend, ...: stay correct
        ENABLED = False
        warnings.warn(f"las: fused softmax not compiled ({err!r}); generic path", stacklevel=3)
        return fn(*args)


def _layout(exp: nn.Module) -> tuple[float, float, int, int, int, int] | None:
    """The uniform layout ``(low, high, m, first, n, K)`` of an HG exp neuron, else None."""
    if type(exp) is not HGNeuron or exp.symmetry != "none" or exp.partition is None:
        return None
    kind, m = exp.partition
    if kind != "uniform" or m & (m - 1):
        return None
    return exp._low, exp._high, m, round(exp._low * m), exp.delta.numel(), exp.K


def applies(scores: Tensor, exp: nn.Module, reciprocal: nn.Module, probability: nn.Module) -> bool:
    """Whether :func:`attention_softmax` replaces the generic fast path for these inputs."""
    return (
        ENABLED
        and scores.dtype == torch.float32
        and scores.numel() >= COMPILE_MIN_ELEMENTS
        and type(probability) is MTNeuron
        and probability.T <= 24
        and probability.tau.numel() == 1
        and _layout(exp) is not None
    )


def attention_softmax(
    scores: Tensor,
    exp: HGNeuron,
    reciprocal: nn.Module,
    probability: MTNeuron,
    offset: str,
    keep: Tensor | None,
    compiled: bool = True,
) -> Tensor | None:
    """The fast-mode softmax of :func:`las.ops.functional.spiking_softmax`, fused.

    Returns None when a non-finite value appears (the caller then runs the generic path, which
    raises the error naming the site). ``compiled=False`` runs the same passes eagerly (tests).
    """
    run = _run if compiled else (lambda _name, fn, *args: fn(*args))
    e, outside = run(
        "exp", exp_map, scores, keep, offset == "first", exp._offset64, exp._delta64, _layout(exp)
    )
    total = e.sum(-1, keepdim=True)
    if not bool(torch.isfinite(total).all()):
        return None
    if keep is not None:
        total = total + (~keep.any(-1, keepdim=True)).to(scores.dtype)
    inverse = reciprocal(total)
    tau = probability.tau.to(device=scores.device, dtype=scores.dtype)
    dyadic = bool(torch.frexp(probability.tau)[0].abs().eq(0.5).all())
    exp.n_clamped += outside
    # e and the inverse are finite (checked; HG outputs are), so p is: no check needed
    return run("probability", probability_code, e, inverse, tau, probability.T, dyadic)
