"""The attention map's softmax in fast mode as two fused element-wise passes (M5 softmax, M6).

:func:`las.ops.functional.spiking_softmax` is the definition: one function of a backend for both
modes. On the ``n x n`` attention map its fast mode is a chain of some forty element-wise tensor
operations (row max, shift, gate, the HG exp closed form in float64, the product with the row's
inverse, the MT(tau = 1) code of each probability), each a full pass over the map. This module
evaluates the same closed forms in three fused passes (:mod:`las.neurons.compiled`) on the device
the tensors live on:

0. :func:`row_max`: the reference of offset ``"max"`` (M13), the maximum of the score neuron's
   codes per row, without storing the codes (:meth:`las.ops.backend.FastSim.row_max` calls it);
1. :func:`exp_map`: offset (the reference comes in: :func:`las.ops.functional.softmax_reference`),
   gate, HG exp, gate (and the clamp count);
2. :func:`probability_code`: ``e * (1/sum)``, then the MT code.

The row sum and the HG 1/x of the row sums stay eager, exactly as the generic path computes them
(a compiled reduction could sum in another order). Contract, tested bit for bit against the
generic path (``tests/ops/test_fused.py``): :func:`attention_softmax` returns the very tensor
the generic fast mode returns, raises the same errors and tallies the same clamp counts.

Numerics (M4, M1): the HG gate and code in float32, exact (:func:`las.neurons.hg.uniform_value`);
the segment's output ``offset + delta q`` (up to 41 bits) in float64 registers, rounded once;
the MT code by :func:`las.neurons.mt.fused_code_value` (branch-free exact re-check).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from las.neurons import compiled
from las.neurons.hg import HGNeuron, uniform_value
from las.neurons.mt import MTNeuron, fused_code_value, is_dyadic

#: Maps with fewer elements run the generic path (a compiled pass costs a fixed call overhead).
COMPILE_MIN_ELEMENTS = 1 << 15


def exp_map(
    scores: Tensor,
    keep: Tensor | None,
    reference: Tensor,
    offset64: Tensor,
    delta64: Tensor,
    layout: tuple[float, float, int, int, int, int],
) -> tuple[Tensor, Tensor]:
    """Pass 1: ``(e, clamped count)`` of the offset, gated scores through HG exp.

    Same tensor operations as the generic fast path (:func:`las.ops.functional.spiking_softmax`
    with ``FastSim``), element by element; where an input of the exp is not finite ``e`` is NaN
    (so the row sums tell the caller, without a second reduction over the map).
    """
    shifted = scores - reference
    if keep is not None:
        gate = keep.to(scores.dtype)
        shifted = shifted * gate
    e, outside = uniform_value(shifted, offset64, delta64, layout)
    if keep is not None:
        e = e * gate
    return torch.where(torch.isfinite(shifted), e, float("nan")), outside


def probability_code(e: Tensor, inverse: Tensor, tau: Tensor, T: int, dyadic: bool) -> Tensor:
    """Pass 2: the MT code value (M1) of ``e * inverse`` (:func:`fused_code_value`)."""
    return fused_code_value(e * inverse, tau, None, T, dyadic)


def code_row_max(
    scores: Tensor, keep: Tensor | None, tau: Tensor, T: int, dyadic: bool
) -> tuple[Tensor, Tensor]:
    """``(row max [..., 1], row sums [...])``: the maximum of the MT codes (M1) of ``scores``
    over the kept entries of each row (0 for a row with none), and the row sums of the scores
    (finite exactly when every score is: the caller's finiteness check, one reduction).

    The codes are :func:`fused_code_value`'s; the maximum is one of them (a maximum rounds
    nothing), so it is the value the generic :meth:`las.ops.backend.FastSim.row_max` returns and
    M13's elimination finds on the score neuron's train. One pass over the map when compiled:
    the codes are never stored.
    """
    codes = fused_code_value(scores, tau, None, T, dyadic)
    if keep is None:
        return codes.amax(-1, keepdim=True), scores.sum(-1)
    top = codes.masked_fill(~keep, float("-inf")).amax(-1, keepdim=True)
    return torch.where(keep.any(-1, keepdim=True), top, 0.0), scores.sum(-1)


def row_max(score: nn.Module, scores: Tensor, keep: Tensor | None) -> Tensor | None:
    """The fast-mode spiking row max (M13) of float32 ``scores`` in one fused pass, or None.

    None (the caller runs the generic path, which calls the neuron: its hooks, its error naming
    the site for a non-finite score) unless ``score`` is an unobserved binary MT neuron with
    one threshold and ``T <= 24`` on a large float32 map, and every score is finite.
    """
    if not (
        type(score) is MTNeuron
        and not observed(score)
        and compiled.wanted(scores, COMPILE_MIN_ELEMENTS)
        and scores.dtype == torch.float32
        and score.T <= 24
        and score.tau.numel() == 1
    ):
        return None
    tau = score.tau.to(device=scores.device, dtype=scores.dtype)
    top, sums = compiled.run("row_max", code_row_max, scores, keep, tau, score.bits, is_dyadic(tau))
    return top if bool(torch.isfinite(sums).all()) else None


def observed(*modules: nn.Module) -> bool:
    """Whether a hook watches any of ``modules`` (spike counting, observers) or every module.

    The fused pass evaluates the neurons' closed forms without calling the modules, so their
    hooks would not run: an observed softmax takes the generic path, which calls each neuron.
    """
    hooks = (nn.modules.module._global_forward_hooks, nn.modules.module._global_forward_pre_hooks)
    watched = any(m._forward_hooks or m._forward_pre_hooks for m in modules)
    return watched or any(hooks)


def applies(scores: Tensor, exp: nn.Module, reciprocal: nn.Module, probability: nn.Module) -> bool:
    """Whether :func:`attention_softmax` replaces the generic fast path for these inputs."""
    return (
        not observed(exp, reciprocal, probability)
        and compiled.wanted(scores, COMPILE_MIN_ELEMENTS)
        and scores.dtype == torch.float32
        and type(probability) is MTNeuron
        and probability.T <= 24
        and probability.tau.numel() == 1
        and type(exp) is HGNeuron
        and exp.uniform_layout() is not None
    )


def attention_softmax(
    scores: Tensor,
    exp: HGNeuron,
    reciprocal: nn.Module,
    probability: MTNeuron,
    reference: Tensor,
    keep: Tensor | None,
    fuse: bool = True,
) -> Tensor | None:
    """The fast-mode softmax of :func:`las.ops.functional.spiking_softmax`, fused.

    ``reference``: the row offsets ``[..., 1]`` (:func:`las.ops.functional.softmax_reference`).
    Returns None when a non-finite value appears (the caller then runs the generic path, which
    raises the error naming the site). ``fuse=False`` runs the same passes eagerly (tests).
    """
    run = compiled.run if fuse else (lambda _name, fn, *args: fn(*args))
    tables = (exp._offset64, exp._delta64, exp.uniform_layout())
    e, outside = run("exp", exp_map, scores, keep, reference, *tables)
    total = e.sum(-1, keepdim=True)
    if not bool(torch.isfinite(total).all()):
        return None
    if keep is not None:
        total = total + (~keep.any(-1, keepdim=True)).to(scores.dtype)
    inverse = reciprocal(total)
    tau = probability.tau.to(device=scores.device, dtype=scores.dtype)
    dyadic = is_dyadic(tau)
    exp.n_clamped += outside
    # e and the inverse are finite (checked; HG outputs are), so p is: no check needed
    return run("probability", probability_code, e, inverse, tau, probability.T, dyadic)
