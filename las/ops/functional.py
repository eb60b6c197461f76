"""Spike-equivalent transformer operators, each written once against a backend (METHOD.md M5).

Every function takes ``sim`` (:mod:`las.ops.backend`) and values in its representation
(accumulated tensors in fast mode, trains ``[T, ...]`` in spike mode) and returns the same kind.
Neurons are passed in; nothing here is float-nonlinear except through an HG neuron.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from las.modes import Mode
from las.neurons.mt import MTNeuron
from las.ops import fused
from las.ops.backend import Sim

SoftmaxOffset = Literal["max", "first"]


def spiking_softmax(
    sim: Sim,
    scores: Tensor,
    exp: nn.Module,
    reciprocal: nn.Module,
    probability: nn.Module,
    offset: SoftmaxOffset = "max",
    keep: Tensor | None = None,
    score: nn.Module | None = None,
    overwrite_scores: bool = False,
) -> Tensor:
    """Softmax over the last dim (M5): offset, HG exp, row sum, HG 1/x, Hadamard, MT(tau=1).

    Args:
        scores: ``[..., n]``.
        exp, reciprocal: HG neurons for ``exp`` (on the offset scores) and ``1/x`` (on row sums).
        probability: the MT(``tau = 1``) neuron re-encoding probabilities.
        offset: the reference subtracted from each row (:func:`softmax_reference`).
        keep: optional boolean mask broadcastable to ``scores``; False entries (masked keys) get no
            synapse: they are gated out before and after the exponential.
        score: the MT neuron whose codes the spiking row max compares (offset ``"max"``).
        overwrite_scores: the caller gives ``scores`` up: the fused fast path may reuse its
            storage for the maps it computes (:func:`las.ops.fused.attention_softmax`).

    The exp neuron reads the accumulated scores minus the reference (M6 pipelining: the reference
    is subtracted once per element). In fast mode a large float32 map takes
    :func:`las.ops.fused.attention_softmax`, the same closed forms in two fused passes (bit for
    bit the same result).
    """
    reference = softmax_reference(sim, scores, offset, keep, score)
    if sim.mode is Mode.FAST and fused.applies(scores, exp, reciprocal, probability):
        out = fused.attention_softmax(
            scores, exp, reciprocal, probability, reference, keep, overwrite=overwrite_scores
        )
        if out is not None:
            return out
    accumulated = sim.accumulate(scores)
    shifted = sim.lift(accumulated - reference)
    if keep is not None:
        gate = keep.to(accumulated.dtype)
        shifted = sim.affine(lambda s: s * gate, shifted)
        e = sim.affine(lambda s: s * gate, sim.nonlinear(exp, shifted))
    else:
        e = sim.nonlinear(exp, shifted)
    total = sim.affine(lambda s: s.sum(-1, keepdim=True), e)
    if keep is not None:
        # A fully masked row (e.g. a left-padding query) has no synapse at all: a constant 1 on
        # its row sum keeps 1/x in range and its probabilities are exactly 0.
        empty = ~keep.any(-1, keepdim=True)
        total = sim.shift(total, empty.to(accumulated.dtype))
    inverse = sim.nonlinear(reciprocal, total)
    return sim.encode(probability, sim.product(e, inverse))


def softmax_reference(
    sim: Sim,
    scores: Tensor,
    offset: SoftmaxOffset,
    keep: Tensor | None = None,
    score: nn.Module | None = None,
) -> Tensor:
    """``[..., 1]``: the spike-driven value subtracted from each row of accumulated ``scores`` (M5).

    ``"max"``: the row maximum of the ``score`` neuron's codes, found by comparing their spikes
    MSB first (M13; exact on the codes, so the row max lands on 0 up to one code step);
    ``"first"``: the first score of the row (the "data offset", a difference of trains).
    """
    if offset == "max":
        if score is None:
            raise ValueError("softmax offset 'max' needs the score neuron its comparator reads")
        if getattr(getattr(score, "code", None), "name", "binary") != "binary":
            raise ValueError(
                "the spiking row max (M13) compares MSB-first bits: the score neuron must use "
                f"the binary code, not {score.code.name!r}"
            )
        return sim.row_max(score, scores, keep)
    if offset == "first":
        return sim.accumulate(scores)[..., :1]
    raise ValueError(f"softmax offset must be 'max' or 'first', got {offset!r}")


def inverse_root_mean_square(sim: Sim, x: Tensor, square: nn.Module, rsqrt: nn.Module, eps: float):
    """``1/sqrt(mean(x**2) + eps)`` over the last dim with HG square and HG 1/sqrt (M5)."""
    mean_square = sim.affine(lambda s: s.mean(-1, keepdim=True), sim.nonlinear(square, x))
    return sim.nonlinear(rsqrt, sim.shift(mean_square, eps))


def spiking_layer_norm(
    sim: Sim,
    x: Tensor,
    neurons: nn.ModuleDict,
    weight: Tensor | None,
    bias: Tensor | None,
    eps: float,
) -> Tensor:
    """LayerNorm over the last dim (M5).

    ``neurons`` holds ``input`` (OAT), ``square`` and ``rsqrt`` (HG), ``centred`` and ``output``
    (OAT). Steps: OAT(x); ``x - mean(x)`` (linear); HG square, mean, HG 1/sqrt(var + eps);
    OAT(x - mean) Hadamard 1/sqrt; OAT; scale and shift.
    """
    centred = sim.affine(lambda s: s - s.mean(-1, keepdim=True), sim.encode(neurons["input"], x))
    inverse = inverse_root_mean_square(sim, centred, neurons["square"], neurons["rsqrt"], eps)
    normed = sim.encode(
        neurons["output"], sim.product(sim.encode(neurons["centred"], centred), inverse)
    )
    return _scale_shift(sim, normed, weight, bias)


def spiking_rms_norm(
    sim: Sim, x: Tensor, neurons: nn.ModuleDict, weight: Tensor | None, eps: float
) -> Tensor:
    """RMSNorm over the last dim (M5): HG square, mean, HG 1/sqrt(ms + eps), Hadamard with OAT(x).

    ``neurons`` holds ``input`` (OAT), ``square``, ``rsqrt`` (HG) and ``output`` (OAT). The output
    neuron re-encodes the normalised value before the (linear) weight.
    """
    encoded = sim.encode(neurons["input"], x)
    inverse = inverse_root_mean_square(sim, encoded, neurons["square"], neurons["rsqrt"], eps)
    normed = sim.encode(neurons["output"], sim.product(encoded, inverse))
    return _scale_shift(sim, normed, weight, None)


def _scale_shift(sim: Sim, v: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    if weight is not None:
        v = sim.affine(lambda s: s * weight, v)
    return v if bias is None else sim.shift(v, bias)


def spiking_ffn(
    sim: Sim,
    x: Tensor,
    neurons: nn.ModuleDict,
    w_in: Tensor,
    b_in: Tensor | None,
    w_out: Tensor,
    b_out: Tensor | None,
    w_gate: Tensor | None = None,
    b_gate: Tensor | None = None,
    fused_gate: bool = False,
) -> Tensor:
    """FFN (M5): OAT -> Linear -> HG nonlinearity -> OAT -> Linear.

    Gated (SwiGLU/GeGLU): ``HG(gate(x))`` Hadamard ``OAT(up(x))`` replaces the plain
    nonlinearity, with ``w_gate`` the gate map and ``w_in`` the up map, or with ``fused_gate`` one
    map ``w_in`` whose output halves are ``[gate, up]`` (a split of the train along features:
    free): a product of two spike trains (M5), no float multiply. ``neurons`` holds ``input``
    (OAT), ``activation`` (HG), ``hidden`` (OAT) and, when gated, ``up`` (OAT).
    """
    encoded = sim.encode(neurons["input"], x)
    up = sim.linear(encoded, w_in, b_in)
    if fused_gate:  # halves of one train: a selection of features, linear (free)
        gate, up = (sim.affine(lambda s, i=i: s.chunk(2, dim=-1)[i], up) for i in (0, 1))
    else:
        gate = None if w_gate is None else sim.linear(encoded, w_gate, b_gate)
    if gate is None:
        hidden = sim.nonlinear(neurons["activation"], up)
    else:
        gate = sim.nonlinear(neurons["activation"], gate)
        hidden = sim.product(gate, sim.encode(neurons["up"], up))
    return sim.linear(sim.encode(neurons["hidden"], hidden), w_out, b_out)


def spiking_attention_core(
    sim: Sim,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    neurons: nn.ModuleDict,
    scaling: float,
    keep: Tensor | None = None,
    offset: SoftmaxOffset = "max",
    softcap: float | None = None,
) -> Tensor:
    """Scaled dot-product attention with spike products and the spiking softmax (M5).

    ``q``: ``[..., n_q, d]``, ``k``, ``v``: ``[..., n_k, d]``. ``neurons`` holds ``query``, ``key``,
    ``value`` (OAT), ``exp``, ``reciprocal`` (HG), ``probability`` (MT, tau = 1), for the offset
    ``"max"`` ``score`` (MT, read by the spiking row max, M13) and, with ``softcap`` ``c``
    (Gemma 2), ``softcap``, the HG tanh of the soft-capped scores ``c tanh(s / c)`` (M5
    nonlinearity; the scalings by ``1/c`` and ``c`` are linear; the row max then reads the capped
    scores). Returns ``[..., n_q, d]``.
    """
    qs, ks, vs = (sim.encode(neurons[n], t) for n, t in (("query", q), ("key", k), ("value", v)))
    if scales_exactly(scaling, neurons["query"], neurons["key"]):
        scores = sim.product(sim.affine(lambda s: s * scaling, qs), ks, _matmul_transposed)
    else:
        scores = sim.affine(lambda s: s * scaling, sim.product(qs, ks, _matmul_transposed))
    if softcap is not None:
        if "softcap" not in neurons:
            raise ValueError(
                f"the attention passes softcap={softcap} but its core has no 'softcap' (HG "
                "tanh) neuron: the adapter must declare attention_softcap for this family"
            )
        capped = sim.nonlinear(neurons["softcap"], sim.affine(lambda s: s / softcap, scores))
        scores = sim.affine(lambda s: s * softcap, capped)
    probs = spiking_softmax(
        sim,
        scores,
        neurons["exp"],
        neurons["reciprocal"],
        neurons["probability"],
        offset,
        keep,
        neurons["score"] if "score" in neurons else None,  # noqa: SIM401 (a ModuleDict)
        overwrite_scores=True,  # a product made here, read by nothing else
    )
    return sim.product(probs, vs, torch.matmul)


#: The smallest normal float32 (float64's is smaller still).
_TINY = 2.0**-126


def scales_exactly(scaling: float, query: nn.Module, key: nn.Module) -> bool:
    """Whether scaling the query codes gives the very scores that scaling ``Q K^T`` gives.

    A power of two ``s <= 1`` commutes with every rounding whose input and output stay normal
    (or are exactly 0): ``fl(x) s = fl(x s)``. Every product and partial sum of ``Q K^T`` (fused
    multiply-adds included) is an integer multiple of ``u = 2**(e - 23)``, ``2**e`` the binade
    of the smallest non-zero product of codes, ``(tau_q 2**-B_q)(tau_k 2**-B_k)`` (M1: code
    values are ``q tau 2**-B``), so ``u s >= 2**-126`` keeps every scaled intermediate normal,
    and ``s <= 1`` cannot overflow one the unscaled product did not. Then ``(Q s) K^T =
    (Q K^T) s`` bit for bit, in both modes (a spike product's running sums scale alike), and the
    scaling runs on ``[n, d]`` codes instead of the ``[n, n]`` map. False (scale the scores, as
    defined) for any other scaling or neurons that are not MT/OAT.
    """
    if not (isinstance(query, MTNeuron) and isinstance(key, MTNeuron)):
        return False
    mantissa, _ = math.frexp(scaling)
    if mantissa != 0.5 or scaling > 1:
        return False
    smallest = [float(n.tau.min()) * 2.0**-n.bits for n in (query, key)]
    _, binade = math.frexp(smallest[0] * smallest[1])  # product >= 2**(binade - 1)
    return 2.0 ** (binade - 1 - 23) * scaling >= _TINY


def _matmul_transposed(a: Tensor, b: Tensor) -> Tensor:
    return a @ b.transpose(-1, -2)
