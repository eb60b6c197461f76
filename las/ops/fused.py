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
the segment's output ``offset + delta q`` as an exact int64 sum rounded once
(:func:`las.neurons.hg.segment_output`); the MT code by :func:`las.neurons.mt.fused_code_value`
(branch-free exact re-check, in int64).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from las.neurons import compiled
from las.neurons.base import check_finite
from las.neurons.hg import HGNeuron, IntegerTables, uniform_value
from las.neurons.mt import MTNeuron, fused_code_value

#: Maps with fewer elements run the generic path (a compiled pass costs a fixed call overhead).
COMPILE_MIN_ELEMENTS = 1 << 15


def exp_map(
    scores: Tensor,
    keep: Tensor | None,
    reference: Tensor,
    tables: IntegerTables,
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
    e, outside = uniform_value(shifted, tables, layout)
    if keep is not None:
        e = e * gate
    return torch.where(torch.isfinite(shifted), e, float("nan")), outside


def probability_code(
    e: Tensor, inverse: Tensor, tau: Tensor, bits: int, dyadic: bool, nearest: bool
) -> Tensor:
    """Pass 2: the MT code value (M1) of ``e * inverse`` (:func:`fused_code_value`, with the
    neuron's :meth:`las.neurons.mt.MTNeuron.fused_code` arguments)."""
    return fused_code_value(e * inverse, tau, None, bits, dyadic, nearest)


def code_row_max(
    scores: Tensor, keep: Tensor | None, tau: Tensor, bits: int, dyadic: bool, nearest: bool
) -> tuple[Tensor, Tensor]:
    """``(row max [..., 1], row sums [...])``: the maximum of the MT codes (M1) of ``scores``
    over the kept entries of each row (0 for a row with none), and the row sums of the scores
    (finite exactly when every score is: the caller's finiteness check, one reduction); ``tau,
    bits, dyadic, nearest``: the score neuron's :meth:`las.neurons.mt.MTNeuron.fused_code`.

    The codes are :func:`fused_code_value`'s; the maximum is one of them (a maximum rounds
    nothing), so it is the value the generic :meth:`las.ops.backend.FastSim.row_max` returns and
    M13's elimination finds on the score neuron's train. One pass over the map when compiled:
    the codes are never stored.
    """
    codes = fused_code_value(scores, tau, None, bits, dyadic, nearest)
    if keep is None:
        return codes.amax(-1, keepdim=True), scores.sum(-1)
    top = codes.masked_fill(~keep, float("-inf")).amax(-1, keepdim=True)
    return torch.where(keep.any(-1, keepdim=True), top, 0.0), scores.sum(-1)


def row_max(score: nn.Module, scores: Tensor, keep: Tensor | None) -> Tensor | None:
    """The fast-mode spiking row max (M13) of float32 ``scores`` in fused passes, or None.

    None (the caller runs the generic path, which calls the neuron: its hooks, its error naming
    the site for a non-finite score) unless ``score`` is an unobserved binary MT neuron with
    one threshold and ``T <= 24`` on a large float32 map, and every score is finite. The map is
    read in blocks of query rows, each up to its last kept key (:func:`key_extents`): a maximum
    rounds nothing, so leaving out keys masked in every row of a block changes no row's value.
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
    code = score.code_arguments(scores)  # the neuron's threshold, bits and rounding
    extents = key_extents(keep, scores.shape[-2], scores.shape[-1])
    if code is None or not finite_if_skipped(scores, extents):
        return None
    tau, _, bits, dyadic, nearest = code
    tops, finite = [], True
    for start, stop, keys in extents:
        block = scores[..., start:stop, :keys]
        top, sums = compiled.run(
            "row_max",
            code_row_max,
            block,
            _block(keep, start, stop, keys),
            tau,
            bits,
            dyadic,
            nearest,
        )
        tops.append(top)
        finite = finite and bool(torch.isfinite(sums).all())
    return torch.cat(tops, -2) if finite else None


#: Query rows per block of the map's element-wise passes (:func:`key_extents`).
ROW_BLOCK = 256


def key_extents(keep: Tensor | None, n_q: int, n_k: int) -> list[tuple[int, int, int]]:
    """``(first row, row end, key end)`` per block of ``ROW_BLOCK`` query rows of the map.

    Every key at or beyond a block's key end is masked (``keep`` False) in every row of the
    block and every batch and head ``keep`` broadcasts over: for a causal mask the block's last
    row plus one. A masked key has no synapse (M5): its gated score enters the exp as 0 and its
    gated exp and probability are 0, so the passes leave such keys out and the caller's
    zero-filled maps hold those zeros. One extent covering the map without a mask.
    """
    if keep is None or keep.shape[-1] != n_k:
        return [(0, n_q, n_k)]
    columns = torch.arange(1, n_k + 1, device=keep.device, dtype=torch.int32)
    last = torch.where(keep, columns, 0).amax(-1).reshape(-1, keep.shape[-2]).amax(0)
    last = last.expand(n_q)  # a mask shared by all query rows broadcasts here
    starts = range(0, n_q, ROW_BLOCK)
    ends = [int(last[s : s + ROW_BLOCK].max()) for s in starts]
    # at least one key per block: a block of fully masked rows then takes the general case
    return [(s, min(s + ROW_BLOCK, n_q), max(e, 1)) for s, e in zip(starts, ends, strict=True)]


def finite_if_skipped(scores: Tensor, extents: list[tuple[int, int, int]]) -> bool:
    """Whether the map is finite where the blocked passes leave keys out (True if none is left
    out): a non-finite masked score sends the caller to the generic path, which raises the
    error naming the site exactly as before. One reduction (an overflowing sum of finite
    scores also gives False: the generic path then runs, with the same result)."""
    if all(keys == scores.shape[-1] for _, _, keys in extents):
        return True
    return bool(torch.isfinite(scores.sum()))


def _block(keep: Tensor | None, start: int, stop: int, keys: int) -> Tensor | None:
    """The part of ``keep`` (broadcastable to the map) for query rows ``start:stop`` and the
    first ``keys`` keys."""
    if keep is None:
        return None
    rows = slice(start, stop) if keep.shape[-2] != 1 else slice(None)
    return keep[..., rows, :keys]


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
        and exp.integer_tables is not None
    )


def attention_softmax(
    scores: Tensor,
    exp: HGNeuron,
    reciprocal: nn.Module,
    probability: MTNeuron,
    reference: Tensor,
    keep: Tensor | None,
    fuse: bool = True,
    overwrite: bool = False,
) -> Tensor | None:
    """The fast-mode softmax of :func:`las.ops.functional.spiking_softmax`, fused.

    ``reference``: the row offsets ``[..., 1]`` (:func:`las.ops.functional.softmax_reference`).
    Returns None when a non-finite value appears (the caller then runs the generic path, which
    raises the error naming the site). ``fuse=False`` runs the same passes eagerly (tests).

    Memory: one ``n x n`` map besides ``scores``, holding the gated exps and then, block by
    block, the probabilities it returns (each block is read before it is overwritten). With
    ``overwrite`` (the caller gives ``scores`` up: :func:`las.ops.functional.spiking_attention_core`
    does, its scores being a product it made) and ``scores`` not requiring grad, that map is
    ``scores`` itself, checked finite first (one reduction; None, with ``scores`` untouched,
    if not; an overflowing offset of finite scores raises the generic path's error naming the
    exp's site), so no map is allocated: a fresh ``n x n`` float32 map costs its page faults and a
    zero fill, about 3x a pass over an existing one at 2048 tokens. Same values either way.

    The two element-wise passes run per block of query rows up to the block's last kept key
    (:func:`key_extents`; a causal map: about half of it); the keys left out are masked in the
    whole block, where the generic path's gated exp and probabilities are exactly 0 (the zeros
    of the maps here). The row sums run on the whole zero-filled map, as in the generic path,
    so every value is the generic path's bit for bit. A left-out key's gated exp input is 0: it
    counts as clamped exactly when the exp's range excludes 0, as in the generic path.
    """
    run = compiled.run if fuse else (lambda _name, fn, *args: fn(*args))
    tables = (exp.integer_tables, exp.uniform_layout())
    extents = key_extents(keep, scores.shape[-2], scores.shape[-1])
    code = probability.code_arguments(scores)  # the neuron's threshold, bits and rounding
    in_place = overwrite and not scores.requires_grad
    if code is None or (in_place and not bool(torch.isfinite(scores.sum()))):
        return None
    tau, _, bits, dyadic, nearest = code
    if not in_place and not finite_if_skipped(scores, extents):
        return None
    e = scores if in_place else scores.new_zeros(scores.shape)
    outside = torch.zeros((), dtype=torch.int64, device=scores.device)
    for start, stop, keys in extents:
        rows = slice(start, stop)
        block, block_outside = run(
            "exp",
            exp_map,
            scores[..., rows, :keys],
            _block(keep, start, stop, keys),
            reference[..., rows, :],
            *tables,
        )
        e[..., rows, :keys] = block
        if in_place:
            e[..., rows, keys:] = 0.0
        outside += block_outside
    total = e.sum(-1, keepdim=True)
    if not bool(torch.isfinite(total).all()):
        if in_place:
            # Finite scores can still overflow ``scores - reference``; with the scores gone,
            # raise here the generic path's error: e is NaN exactly where the exp's input is
            # not finite (exp_map), so this names the exp's site and counts those inputs.
            check_finite(e, exp.site)
        return None
    if keep is not None:
        total = total + (~keep.any(-1, keepdim=True)).to(scores.dtype)
    inverse = reciprocal(total)
    low, high = exp.bounds
    if not low <= 0.0 <= high:
        computed = sum((stop - start) * keys for start, stop, keys in extents)
        outside += (scores.shape[-2] * scores.shape[-1] - computed) * (scores[..., 0, 0].numel())
    exp.n_clamped += outside
    # e and the inverse are finite (checked; HG outputs are), so p is: no check needed.
    # p replaces e block by block: a block of e is read before its probabilities are written,
    # and e's zeros beyond the block's keys are the probabilities there.
    p = e
    for start, stop, keys in extents:
        rows = slice(start, stop)
        p[..., rows, :keys] = run(
            "probability",
            probability_code,
            e[..., rows, :keys],
            inverse[..., rows, :],
            tau,
            bits,
            dyadic,
            nearest,
        )
    return p
