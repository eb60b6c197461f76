"""Cost rules of the spiking operators: each site's fan-out and the ANN work it replaces (M5, M8).

A *site* is a neuron of an operator (``<op path>.<role>``). For one call of the operator, the rule
of its class returns a :class:`SiteCost` per site from the call's inputs (:data:`Call`) and the
site's input ``x``. The conventions, applied the same way in every rule:

* **SOPs** (M8): a spike delivered to one synapse is one accumulate. A site's *fan-out* is the
  number of output elements of the consuming operators that one of its elements enters: a linear
  map ``W [out, in]``: ``out``; a matrix product: the length of the other operand's free
  dimension; a Hadamard product, a row reduction, a scaling by a weight vector or the input of
  the next operator's neuron: 1. SOPs = sum over elements of ``spikes * fan-out``.
* **Products of two trains** (M5): ``O(t) = A(t) S_B(t) + S_A(t-1) B(t)``: the spikes of *both*
  operands fan out, each with the other's running sum as weight. An operand that is a synaptic
  current rather than a neuron's train (the up projection of a gated FFN, ``W X(t)``) keeps a
  float multiply per element (``float_macs``), counted once like every float operation here.
* **ANN MACs**: the float operator on the same inputs: linear ``rows * in * out``; matrix
  products ``B * H * n_q * n_k * d`` (masked positions included, as the ANN computes them);
  one per element for Hadamard products, weight-vector scalings and row reductions (sum, mean);
  float scalar functions (exp, 1/x, 1/sqrt, x^2, activations) counted as evaluations and priced by
  :class:`las.energy.EnergyConfig`. A product's MACs are split evenly between its operand sites.
* **Free on both sides**: biases and constant shifts, scalings by a scalar (folded into weights),
  masks, and comparators (the softmax row max, HG gates); operations on synaptic currents (score
  scaling, the softmax offset) are part of the membrane update of the neuron that reads them.

Layer types: ``attn_proj``, ``qk``, ``softmax``, ``pv``, ``ffn``, ``activation``, ``norm``,
``head`` and ``linear`` (any other linear map).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from las.ops import (
    SpikingAttentionCore,
    SpikingFFN,
    SpikingLayerNorm,
    SpikingLinear,
    SpikingOp,
    SpikingRMSNorm,
)

#: The arguments of one operator call by parameter name (``x``; ``q``, ``k``, ``v``, ``keep``).
Call = Mapping[str, Any]

_HEAD = re.compile(r"(^|\.)lm_head$")
_ATTENTION = re.compile(r"(^|\.)[^.]*(attn|attention)[^.]*\.")
_FFN = re.compile(r"(^|\.)(mlp|ffn|feed_forward|fc\d+|intermediate|output)(\.|$)")
_BLOCK = re.compile(r"^(.*?\.\d+)(\.|$)")


@dataclass(frozen=True)
class SiteCost:
    """The cost of one operator call at one site.

    Attributes:
        fanout: synapses per spike: an int, or an int64 tensor broadcastable to the site's input.
        ann_macs: MACs of the ANN work the site's spikes replace.
        ann_functions: float scalar-function evaluations of that ANN work.
        float_macs: MACs that stay float in the SNN beside this site while it spikes.
    """

    fanout: int | Tensor
    ann_macs: int = 0
    ann_functions: int = 0
    float_macs: int = 0


def halves(total: int) -> tuple[int, int]:
    """A product's MACs split between its two operand sites (integers, summing to ``total``)."""
    return total // 2, total - total // 2


def linear_type(path: str) -> str:
    """Layer type of a linear map at module ``path``: head, attention projection, FFN, other."""
    if _HEAD.search(path):
        return "head"
    if _ATTENTION.search(path):
        return "attn_proj"
    return "ffn" if _FFN.search(path) else "linear"


def layer_of(path: str) -> str:
    """The layer a module belongs to: the path up to its block index, else the path itself."""
    match = _BLOCK.match(path)
    return match.group(1) if match else path


def linear_cost(op: SpikingLinear, call: Call, role: str, x: Tensor) -> SiteCost:
    """``input`` (OAT) fans out to ``out_features``; a fused ``activation`` (HG) feeds the next
    layer's neuron element-wise (fan-out 1) and replaces one function evaluation per element."""
    match role:
        case "input":
            return SiteCost(op.out_features, ann_macs=x.numel() * op.out_features)
        case "activation":
            return SiteCost(1, ann_functions=x.numel())
    raise _unknown(op, role)


def ffn_cost(op: SpikingFFN, call: Call, role: str, x: Tensor) -> SiteCost:
    """``input`` fans out to the hidden width (twice when gated: gate and up, separate or fused);
    ``hidden`` to the output width; ``activation`` (HG) to 1: the hidden neuron, or the Hadamard
    with ``up``, whose current operand keeps one float multiply per element (module docstring)."""
    n, gated = x.numel(), op.gated
    match role:
        case "input":
            width = op.input_width
            return SiteCost(width, ann_macs=n * width)
        case "activation":
            hadamard = n if gated else 0
            return SiteCost(1, ann_macs=hadamard, ann_functions=n, float_macs=hadamard)
        case "hidden":
            return SiteCost(op.w_out.shape[0], ann_macs=n * op.w_out.shape[0])
    raise _unknown(op, role)


def norm_cost(op: SpikingLayerNorm | SpikingRMSNorm, call: Call, role: str, x: Tensor) -> SiteCost:
    """Norms over the last dim (width ``w``) as built by :mod:`las.ops.functional` (M5).

    ``input``: LayerNorm: the centring map ``x - mean(x)`` (a dense linear map, fan-out ``w``;
    ANN: the mean, one MAC per element); RMSNorm: HG square and the Hadamard (fan-out 2).
    ``square``: into the mean (1). ``rsqrt``: one value per row, broadcast over the Hadamard
    (fan-out ``w``). ``centred`` (LayerNorm): into the Hadamard (1). ``output``: into the weight
    scaling, or the next layer's neuron (1). The Hadamard's MACs are split between the
    normalised operand (``input`` or ``centred``) and ``rsqrt``.
    """
    width, n = call["x"].shape[-1], x.numel()
    first, second = halves(call["x"].numel())
    layer_norm = isinstance(op, SpikingLayerNorm)
    match role:
        case "input":
            return SiteCost(width, ann_macs=n) if layer_norm else SiteCost(2, ann_macs=first)
        case "centred":
            return SiteCost(1, ann_macs=first)
        case "square":
            return SiteCost(1, ann_macs=n, ann_functions=n)
        case "rsqrt":
            return SiteCost(width, ann_macs=second, ann_functions=n)
        case "output":
            return SiteCost(1, ann_macs=n if op.weight is not None else 0)
    raise _unknown(op, role)


def attention_cost(op: SpikingAttentionCore, call: Call, role: str, x: Tensor) -> SiteCost:
    """Attention core ``softmax(q k^T) v`` (M5), ``q [..., n_q, d]``, ``k, v [..., n_k, d_v]``.

    ``query`` fans out to the ``n_k`` scores of its row, ``key`` to the ``n_q`` scores of its
    column (``QK^T``); ``probability`` to the ``d_v`` outputs of its row, ``value`` to the
    ``n_q`` outputs of its column (``PV``). ``exp`` feeds its row sum and the Hadamard with the
    reciprocal (fan-out 2; 0 for masked keys, which have no synapse); ``reciprocal`` (one per row)
    fans out over the ``n_k`` entries of its row. ``softcap`` (HG tanh of the scores, Gemma 2)
    feeds the exp (fan-out 1; 0 for masked keys) and replaces one tanh per score; its scalings
    by ``1/c`` and ``c`` are scalar (free).
    """
    q, k, v = call["q"], call["k"], call["v"]
    n_q, n_k, d_v = q.shape[-2], k.shape[-2], v.shape[-1]
    scores = q.numel() // q.shape[-1] * n_k
    qk, pv, hadamard = halves(q.numel() * n_k), halves(scores * d_v), halves(scores)
    match role:
        case "query":
            return SiteCost(n_k, ann_macs=qk[0])
        case "key":
            return SiteCost(n_q, ann_macs=qk[1])
        case "softcap":
            keep = call.get("keep")
            fanout = 1 if keep is None else keep.to(torch.int64)
            return SiteCost(fanout, ann_functions=scores)
        case "exp":
            keep = call.get("keep")
            fanout = 2 if keep is None else 2 * keep.to(torch.int64)
            return SiteCost(fanout, ann_macs=scores + hadamard[0], ann_functions=scores)
        case "reciprocal":
            return SiteCost(n_k, ann_macs=hadamard[1], ann_functions=x.numel())
        case "probability":
            return SiteCost(d_v, ann_macs=pv[0])
        case "value":
            return SiteCost(n_q, ann_macs=pv[1])
    raise _unknown(op, role)


def _unknown(op: SpikingOp, role: str) -> ValueError:
    return ValueError(f"no energy rule for role {role!r} of {type(op).__name__}")


@dataclass(frozen=True)
class OpRules:
    """How to price one operator class: its site costs (op, call, role, input) and the layer
    type of each site (op, path, role)."""

    cost: Callable[[Any, Call, str, Tensor], SiteCost]
    layer_type: Callable[[Any, str, str], str]


_CORE_TYPES = {
    "query": "qk",
    "key": "qk",
    "softcap": "softmax",
    "exp": "softmax",
    "reciprocal": "softmax",
    "probability": "pv",
    "value": "pv",
}


def _linear_type(op: SpikingLinear, path: str, role: str) -> str:
    if role == "activation":
        return "activation"
    return "ffn" if "activation" in op.neurons else linear_type(path)


def _ffn_type(op: SpikingFFN, path: str, role: str) -> str:
    return "activation" if role == "activation" else "ffn"


def _norm_type(op: SpikingOp, path: str, role: str) -> str:
    return "norm"


def _core_type(op: SpikingAttentionCore, path: str, role: str) -> str:
    return _CORE_TYPES[role]


RULES: dict[type[SpikingOp], OpRules] = {
    SpikingLinear: OpRules(linear_cost, _linear_type),
    SpikingFFN: OpRules(ffn_cost, _ffn_type),
    SpikingLayerNorm: OpRules(norm_cost, _norm_type),
    SpikingRMSNorm: OpRules(norm_cost, _norm_type),
    SpikingAttentionCore: OpRules(attention_cost, _core_type),
}


def rules_for(op: SpikingOp) -> OpRules:
    """The rules of ``op``'s class (or its nearest registered base); ``ValueError`` if none."""
    for cls in type(op).__mro__:
        if cls in RULES:
            return RULES[cls]
    known = ", ".join(sorted(c.__name__ for c in RULES))
    raise ValueError(f"no energy rule for operator {type(op).__name__}; known: {known}")


def float_linear_cost(module: nn.Module, x: Tensor) -> SiteCost:
    """A linear layer left float (an unconverted head, a pooler): its MACs, in both models."""
    transposed = type(module).__name__ == "Conv1D"  # GPT-2 stores the weight [in, out]
    out_features = module.weight.shape[1 if transposed else 0]
    return SiteCost(0, ann_macs=x.numel() * out_features)
