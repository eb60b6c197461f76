"""Cost rules of the spiking operators: each site's fan-out and the work it replaces (M5, M8).

A *site* is a neuron of an operator (``<op path>.<role>``). For one call of the operator, the rule
of its class returns a :class:`SiteCost` per site from the call's inputs (:data:`Call`) and the
site's input ``x``. Every operation is an accumulate (AC), a multiply-accumulate (MAC), a
comparison or free by a convention stated here (METHOD.md M8 addendum); both sides of the ratio
are counted on the same operators. The conventions, applied the same way in every rule:

* **SOPs** (M8): a spike delivered to one synapse is one AC. An operator's output accumulates
  into one value per element, which the next neuron layer reads once (M6 pipelining; reading
  is free). A site's *fan-out* is the number of such output elements one of its elements
  enters: a linear map ``W [out, in]``: ``out``; a matrix product: the length of the other
  operand's free dimension; a Hadamard product, a row sum, a scaling by a weight vector or the
  input of the next operator's neuron: 1. SOPs = sum over elements of ``spikes * fan-out``.
* **Products of two trains** (M5): ``O(t) = A(t) S_B(t) + S_A(t-1) B(t)``: the spikes of *both*
  operands fan out, each with the other's running sum as weight. An operand that is a float
  current (a baseline's float site) keeps one float multiply per element (``float_macs``).
* **Neuron routing** (:func:`neuron_work`): OAT's outlier mask is one comparison per
  element, an HG gate a comparator tree (:attr:`las.neurons.HGNeuron.gate_comparisons`); an HG
  segment's offset is one weighted event at step 1 that fans out like a spike (ACs). A neuron's
  own membrane update and firing decision are its dynamics, not synaptic work.
* **Sums and differences on both sides**: a row sum is one AC per element it adds (SNN: the
  spikes that enter it, through the fan-out); ``x - mean(x)`` and ``s - reference`` subtract
  once per element (ACs on both sides). The ANN's row max is one comparison per element after
  the first; the SNN's is the spiking maximum of M13 (comparisons of spikes, counted exactly).
* **ANN MACs**: the float operator on the same inputs: linear ``rows * in * out``; matrix
  products ``B * H * n_q * n_k * d`` (masked positions included, as the ANN computes them);
  one per element for Hadamard products and weight-vector scalings; float scalar functions
  (exp, 1/x, 1/sqrt, x^2, activations) counted as evaluations and priced by
  :class:`las.energy.EnergyConfig`. A product's MACs are split evenly between its operand sites.
* **Free on both sides**: biases and constant shifts (they initialise an accumulator), scalings
  by a scalar (folded into the weights or the next threshold), 0/1 masks and the data movement
  of :mod:`las.energy.ledger`.

Layer types: ``attn_proj``, ``qk``, ``softmax``, ``pv``, ``ffn``, ``activation``, ``norm``,
``head`` and ``linear`` (any other linear map); outside the operators ``residual``,
``embedding`` and, for an attention left float (the ``no_spike_attention`` ablation),
``attention_float`` (:mod:`las.energy.ledger`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from las.neurons.base import SpikingNeuron
from las.neurons.hg import HGNeuron
from las.neurons.mt import MTNeuron
from las.neurons.oat import OATNeuron
from las.ops import (
    SpikingAttentionCore,
    SpikingFFN,
    SpikingLayerNorm,
    SpikingLinear,
    SpikingOp,
    SpikingRMSNorm,
)
from las.ops.maximum import code_steps, eliminate

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
        ann_macs, ann_acs, ann_comparisons, ann_functions: the ANN work the site replaces.
        snn_acs: ACs beside the site's spikes (a mean or a reference subtracted once per element).
        snn_comparisons: comparisons beside the neuron's own routing (the spiking row max, M13).
        float_macs: MACs that stay float in the SNN beside this site while it spikes.

    A site without a neuron (a float site) does its ANN work in the SNN too.
    """

    fanout: int | Tensor
    ann_macs: int = 0
    ann_acs: int = 0
    ann_comparisons: int = 0
    ann_functions: int = 0
    snn_acs: int = 0
    snn_comparisons: int = 0
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


def in_block(path: str) -> bool:
    """Whether the module at ``path`` is (inside) a transformer block: its path has an index."""
    return _BLOCK.match(path) is not None


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
    """``input`` fans out to the hidden width (twice when gated: gate and up, separate or fused,
    :attr:`las.ops.SpikingFFN.input_width`; splitting a fused map's halves is free); ``hidden``
    to the output width; ``activation`` (HG) to 1: the hidden neuron, or, gated, the spike
    product with ``up`` (OAT, fan-out 1), which share the product's MACs. Where ``up`` holds no
    neuron (a baseline) the activation's train meets a float current: its half stays a float
    multiply."""
    n, gated = x.numel(), op.gated
    first, second = halves(n)
    match role:
        case "input":
            width = op.input_width
            return SiteCost(width, ann_macs=n * width)
        case "activation" if gated:
            float_up = not isinstance(op.neurons["up"], SpikingNeuron)
            return SiteCost(1, ann_macs=first, ann_functions=n, float_macs=first * float_up)
        case "activation":
            return SiteCost(1, ann_functions=n)
        case "up":
            return SiteCost(1, ann_macs=second)
        case "hidden":
            return SiteCost(op.w_out.shape[0], ann_macs=n * op.w_out.shape[0])
    raise _unknown(op, role)


def norm_cost(op: SpikingLayerNorm | SpikingRMSNorm, call: Call, role: str, x: Tensor) -> SiteCost:
    """Norms over the last dim (width ``w``) as built by :mod:`las.ops.functional` (M5).

    ``input``: LayerNorm: its spikes enter their own centred value and the row sum (fan-out 2);
    the mean is then subtracted once per element (an AC), as the ANN sums and subtracts (2 ACs
    per element); RMSNorm: HG square and the Hadamard (fan-out 2). ``square``: into the row
    mean (1; the ANN's x^2 and the row sum). ``rsqrt``: one value per row, broadcast over the
    Hadamard (fan-out ``w``). ``centred`` (LayerNorm): into the Hadamard (1). ``output``: into
    the weight scaling, or the next layer's neuron (1). The Hadamard's MACs are split between
    the normalised operand (``input`` or ``centred``) and ``rsqrt``.
    """
    width, n = call["x"].shape[-1], x.numel()
    first, second = halves(call["x"].numel())
    layer_norm = isinstance(op, SpikingLayerNorm)
    match role:
        case "input" if layer_norm:
            return SiteCost(2, ann_acs=2 * n, snn_acs=n)
        case "input":
            return SiteCost(2, ann_macs=first)
        case "centred":
            return SiteCost(1, ann_macs=first)
        case "square":
            return SiteCost(1, ann_acs=n, ann_functions=n)
        case "rsqrt":
            return SiteCost(width, ann_macs=second, ann_functions=n)
        case "output":
            return SiteCost(1, ann_macs=n if op.weight is not None else 0)
    raise _unknown(op, role)


def attention_cost(op: SpikingAttentionCore, call: Call, role: str, x: Tensor) -> SiteCost:
    """Attention core ``softmax(q k^T) v`` (M5), ``q [..., n_q, d]``, ``k, v [..., n_k, d_v]``.

    ``query`` fans out to the ``n_k`` scores of its row, ``key`` to the ``n_q`` scores of its
    column (``QK^T``); ``probability`` to the ``d_v`` outputs of its row, ``value`` to the
    ``n_q`` outputs of its column (``PV``). ``softcap`` (HG tanh of the scores, Gemma 2): its
    train accumulates into the capped score (fan-out 1; 0 for masked keys), which the ``score``
    and ``exp`` neurons read, and replaces one tanh per score; its scalings by ``1/c`` and ``c``
    are scalar (free, folded into the neighbouring thresholds). ``score`` (offset ``max``): its
    spikes reach only the comparator of the spiking row max (fan-out 0; M13 comparisons), which
    replaces the ANN's row max. ``exp`` feeds its row sum and the Hadamard with the reciprocal
    (fan-out 2; 0 for masked keys, which have no synapse); the reference is subtracted once per
    kept score; the ANN subtracts and sums per score (2 ACs) and, where the SNN offsets by the
    first score, still takes its row max there. ``reciprocal`` (one per row) fans out over the
    ``n_k`` entries of its row.
    """
    q, k, v, keep = call["q"], call["k"], call["v"], call.get("keep")
    n_q, n_k, d_v = q.shape[-2], k.shape[-2], v.shape[-1]
    rows = q.numel() // q.shape[-1]
    scores = rows * n_k
    qk, pv, hadamard = halves(q.numel() * n_k), halves(scores * d_v), halves(scores)
    ann_max = rows * (n_k - 1)
    match role:
        case "query":
            return SiteCost(n_k, ann_macs=qk[0])
        case "key":
            return SiteCost(n_q, ann_macs=qk[1])
        case "softcap":
            fanout = 1 if keep is None else keep.to(torch.int64)
            return SiteCost(fanout, ann_functions=scores)
        case "score":
            return SiteCost(
                0,
                ann_comparisons=ann_max,
                snn_comparisons=row_max_comparisons(op.neurons["score"], x, keep),
            )
        case "exp":
            fanout = 2 if keep is None else 2 * keep.to(torch.int64)
            kept = scores if keep is None else int(keep.expand(*q.shape[:-1], n_k).sum())
            return SiteCost(
                fanout,
                ann_macs=hadamard[0],
                ann_acs=2 * scores,
                ann_comparisons=ann_max if op.offset == "first" else 0,
                ann_functions=scores,
                snn_acs=kept,
            )
        case "reciprocal":
            return SiteCost(n_k, ann_macs=hadamard[1], ann_functions=x.numel())
        case "probability":
            return SiteCost(d_v, ann_macs=pv[0])
        case "value":
            return SiteCost(n_q, ann_macs=pv[1])
    raise _unknown(op, role)


def row_max_comparisons(neuron: nn.Module, x: Tensor, keep: Tensor | None) -> int:
    """Comparisons of M13's row max on the codes of ``neuron`` (an MT neuron) on scores ``x``.

    The codes come from the closed form (``q = |value| 2**T / tau``, exact); the elimination runs
    on their bits (:func:`las.ops.maximum.eliminate`). 0 for a float site (it keeps the ANN's
    float max, counted as its ANN work).
    """
    if not isinstance(neuron, MTNeuron):
        return 0
    value = neuron.closed_form(x)[0].double()
    q = torch.round(value.abs() * 2.0**neuron.T / neuron.effective_tau(x)).long()
    valid = torch.ones_like(q, dtype=torch.bool) if keep is None else keep.expand(q.shape)
    return int(eliminate(code_steps(q, neuron.T), value > 0, valid)[1].sum())


def _unknown(op: SpikingOp, role: str) -> ValueError:
    return ValueError(f"no energy rule for role {role!r} of {type(op).__name__}")


@dataclass(frozen=True)
class OpRules:
    """How to price one operator class: its site costs (op, call, role, input), the layer type
    of each site (op, path, role), and the arithmetic ATen operations its body runs outside its
    neurons (fast mode) with the site cost that prices each (``tests/energy/test_ledger.py``
    checks every operation against it, with and without ``inference_mode``, which keeps
    composite operations such as ``linear`` whole; data movement and masks are free, ledger)."""

    cost: Callable[[Any, Call, str, Tensor], SiteCost]
    layer_type: Callable[[Any, str, str], str]
    operations: Mapping[str, str]


_LINEAR_OPS = {
    "linear": "W X (+ b): the input's spikes x out_features (SOPs); the bias is free",
    "mm": "W X: the input's spikes x out_features (SOPs)",
    "addmm": "W X + b: SOPs; the bias starts the accumulator (free)",
}
_FFN_OPS = _LINEAR_OPS | {"mul": "gate x up, a product of two trains: activation and up SOPs"}
_NORM_OPS = {
    "mean": "row means: the spikes that enter them (input, square fan-out); 1/w folds in",
    "mul": "the Hadamard with 1/sqrt (both operands' SOPs), the weight (output SOPs)",
    "add": "eps and the bias: constants (free)",
}
_LAYER_NORM_OPS = _NORM_OPS | {"sub": "x - mean(x): one AC per element (input site)"}
_CORE_OPS = {
    "bmm": "QK^T and PV, products of trains: query/key and probability/value SOPs",
    "matmul": "QK^T and PV (undecomposed under inference_mode): as bmm",
    "mul": "exp x 1/sum (exp, reciprocal SOPs); the scalar score scaling, the soft-cap's c and "
    "0/1 key gates: free",
    "div": "the soft-cap's s / c: a scalar scaling, folded into the tanh's range (free)",
    "sum": "the row sum of exp: exp spikes (its fan-out)",
    "sub": "scores - reference: one AC per kept score (exp site)",
    "add": "1 on fully masked rows' sums: a constant (free)",
    "amax": "the row max: the closed form of M13's spiking max (score site comparisons)",
    "min": "the smallest query and key thresholds (parameters, not activations: whether the "
    "scalar score scaling may move onto the query codes, las.ops.functional.scales_exactly): free",
    "item": "reading that threshold as a number: free",
    "_local_scalar_dense": "reading that threshold as a number: free",
}


_CORE_TYPES = {
    "score": "softmax",
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
    SpikingLinear: OpRules(linear_cost, _linear_type, _LINEAR_OPS),
    SpikingFFN: OpRules(ffn_cost, _ffn_type, _FFN_OPS),
    SpikingLayerNorm: OpRules(norm_cost, _norm_type, _LAYER_NORM_OPS),
    SpikingRMSNorm: OpRules(norm_cost, _norm_type, _NORM_OPS),
    SpikingAttentionCore: OpRules(attention_cost, _core_type, _CORE_OPS),
}


def rules_for(op: SpikingOp) -> OpRules:
    """The rules of ``op``'s class (or its nearest registered base); ``ValueError`` if none."""
    for cls in type(op).__mro__:
        if cls in RULES:
            return RULES[cls]
    known = ", ".join(sorted(c.__name__ for c in RULES))
    raise ValueError(f"no energy rule for operator {type(op).__name__}; known: {known}")


@dataclass(frozen=True)
class NeuronWork:
    """One neuron call: spikes per element (M1 popcounts, FS spikes), the comparisons of its
    routing, and the elements that emit an HG segment offset at step 1 (None: none do)."""

    spikes: Tensor
    comparisons: int = 0
    offsets: Tensor | None = None


def _oat_work(neuron: OATNeuron, x: Tensor) -> NeuronWork:
    # M2: one comparison per element routes it (|x| >= theta_nor) to a sub-neuron
    return NeuronWork(neuron.count(x), x.numel())


def _hg_work(neuron: HGNeuron, x: Tensor) -> NeuronWork:
    # M4: the gate's comparator tree; the chosen segment's offset is a weighted event at t = 1
    segment, spikes = neuron.segment_count(x)
    return NeuronWork(spikes, neuron.gate_comparisons * x.numel(), neuron.offset[segment] != 0)


#: Neuron classes whose routing costs comparisons or offsets; others (MT, IF, FS) only spike.
NEURON_WORK: dict[type[SpikingNeuron], Callable[[Any, Tensor], NeuronWork]] = {
    OATNeuron: _oat_work,
    HGNeuron: _hg_work,
}


def neuron_work(neuron: SpikingNeuron, x: Tensor) -> NeuronWork:
    """The work of one call of ``neuron`` on ``x`` (:class:`NeuronWork`)."""
    for cls in type(neuron).__mro__:
        if cls in NEURON_WORK:
            return NEURON_WORK[cls](neuron, x)
    return NeuronWork(neuron.count(x))


def float_linear_cost(module: nn.Module, x: Tensor) -> SiteCost:
    """A linear layer left float (an unconverted head, a pooler): its MACs, in both models."""
    transposed = type(module).__name__ == "Conv1D"  # GPT-2 stores the weight [in, out]
    out_features = module.weight.shape[1 if transposed else 0]
    return SiteCost(0, ann_macs=x.numel() * out_features)
