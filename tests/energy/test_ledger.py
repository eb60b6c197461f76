"""No free operations (METHOD.md M8 addendum): every ATen operation of a converted forward of
each tiny family, outside the neurons, is priced by a rule or the ledger, or free by a stated
convention (``las/energy/ledger.py``), and what the ledger prices is what the forward ran."""

from __future__ import annotations

import functools
from collections import Counter

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode

from las import ConversionConfig, convert_model, data
from las.arch.tiny import BUILDERS, byte_tokenizer, tiny_inputs, tiny_model
from las.calibration import calibrate_model
from las.energy import count_spikes
from las.energy.ledger import PRICES, context_of, folded, free_reason
from las.energy.rules import in_block, rules_for
from las.neurons.base import SpikingNeuron
from las.ops import SpikingOp


class Listing(TorchDispatchMode):
    """Every ATen operation with the module stack it ran in (hooks keep ``stack``)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, nn.Module]] = []
        self.seen: list[tuple[list[tuple[str, nn.Module]], str, object, tuple]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.seen.append((list(self.stack), func.overloadpacket.__name__, out, args))
        return out

    def hook(self, model: nn.Module) -> list:
        def push(path: str, module: nn.Module) -> None:
            self.stack.append((path, module))

        def pop() -> None:
            self.stack.pop()

        handles = []
        for path, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(lambda m, a, p=path: push(p, m)))
            handles.append(module.register_forward_hook(lambda m, a, o: pop()))
        return handles


def account(stack, name: str, out, args: tuple = ()) -> str | None:
    """How an operation is accounted, or None (unaccounted)."""
    if any(isinstance(m, SpikingNeuron) for _, m in stack):
        return "neuron"
    reason = free_reason(name, out, args)
    if reason is not None:
        return f"free: {reason}"
    op = next((m for _, m in reversed(stack) if isinstance(m, SpikingOp)), None)
    if op is not None:
        operations = rules_for(op).operations
        return f"{type(op).__name__}: {operations[name]}" if name in operations else None
    if stack and type(stack[-1][1]).__name__ in ("Linear", "Conv1D"):  # priced by its hook
        return "float linear: MACs on both sides"
    context = context_of(stack) if stack else "model"
    if (context, name) in PRICES:
        return f"priced: {PRICES[context, name]}"
    reason = folded(context, name)
    return None if reason is None else f"free: {reason}"


@functools.cache
def calibration_of(family: str):
    model = tiny_model(family)
    return calibrate_model(model, [tiny_inputs(family, seed=s) for s in range(2)])[0]


def calibrated_snn(family: str, spike_attention: bool = True) -> tuple[nn.Module, dict]:
    """The tiny ``family`` model converted (float attention kept unless ``spike_attention``)."""
    cfg = ConversionConfig(spike_attention=spike_attention)
    snn = convert_model(tiny_model(family), calibration_of(family), cfg)
    return snn, tiny_inputs(family, seed=5)


@pytest.mark.parametrize("spike_attention", [True, False], ids=["spiking", "float_attention"])
@pytest.mark.parametrize("grad_mode", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_every_operation_outside_the_neurons_is_priced_or_free(family, grad_mode, spike_attention):
    snn, inputs = calibrated_snn(family, spike_attention)
    listing = Listing()
    with count_spikes(snn) as counts, grad_mode():
        handles = listing.hook(snn)  # after the counting hooks: their own work is not listed
        try:
            with listing:
                snn(**inputs)
        finally:
            for handle in handles:
                handle.remove()
    ledger = Counter()
    unaccounted = set()
    for stack, name, out, args in listing.seen:
        how = account(stack, name, out, args)
        if how is None:
            unaccounted.add((type(stack[-1][1]).__name__ if stack else "top", name))
        ledger[how] += 1
    assert not unaccounted, f"{family}: neither priced nor free: {sorted(unaccounted)}"
    assert any(k.startswith("priced") for k in ledger), ledger
    # What the ledger priced outside the operators is exactly what ran: the residual adds.
    adds = sum(
        out.numel()
        for stack, name, out, args in listing.seen
        if (how := account(stack, name, out, args)) and how.startswith("priced: Price(kind='ac'")
    )
    outside = [c for c in counts.values() if c.layer_type in ("residual", "embedding")]
    assert adds == sum(c.ann_acs for c in outside) == sum(c.snn_acs for c in outside) > 0
    # No float product or function is left inside a block (M5): the SNN's MAC column is zero,
    # but for the float attention the ablation keeps (its own layer type, the same both sides).
    inside = [c for c in counts.values() if in_block(c.layer)]
    floats = [c for c in inside if c.layer_type == "attention_float"]
    assert inside and not any(c.snn_macs or c.snn_functions for c in inside if c not in floats)
    assert bool(floats) != spike_attention
    float_sides = [column_totals({"f": c}) for c in floats]
    assert all(
        t[f"snn_{k}"] == t[f"ann_{k}"]
        for t in float_sides
        for k in ("macs", "acs", "comparisons", "functions")
    )
    assert spike_attention or sum(t["ann_macs"] for t in float_sides) > 0


def column_totals(counts: dict, keep=lambda c: True) -> dict[str, int]:
    """ANN and SNN columns summed over the sites ``keep`` selects."""
    fields = [f"{side}_{k}" for side in ("ann", "snn") for k in ("macs", "acs", "comparisons")]
    fields += ["ann_functions", "snn_functions", "sops"]
    return {f: sum(getattr(c, f) for c in counts.values() if keep(c)) for f in fields}


def float_attention_counts(family: str, grad_mode, implementation: str | None = None) -> dict:
    snn, inputs = calibrated_snn(family, spike_attention=False)
    if implementation is not None:
        snn.config._attn_implementation = implementation
    with count_spikes(snn) as counts, grad_mode():
        snn(**inputs)
    return column_totals(counts, lambda c: c.layer_type == "attention_float")


@pytest.mark.parametrize(
    "grad_mode, implementation",
    [(torch.no_grad, None), (torch.inference_mode, None), (torch.no_grad, "eager")],
    ids=["sdpa_kernel", "sdpa_whole", "eager"],
)
def test_float_attention_costs_its_closed_form_on_both_sides(grad_mode, implementation):
    """LLaMA: per layer ``QK^T`` and ``PV``, ``B H n n d`` MACs each on the dense map (the op
    computes masked positions too), plus the softmax (per score an exp, 2 ACs and the
    normalising MAC; per row ``n - 1`` comparisons and a reciprocal); the SNN does the same."""
    config = tiny_model("llama").config
    heads, layers = config.num_attention_heads, config.num_hidden_layers
    d = config.hidden_size // heads
    batch, n = tiny_inputs("llama", seed=5)["input_ids"].shape
    rows = layers * batch * heads * n
    totals = float_attention_counts("llama", grad_mode, implementation)
    ann = {
        "macs": rows * n * (2 * d + 1),
        "acs": 2 * rows * n,
        "comparisons": rows * (n - 1),
        "functions": rows * (n + 1),
    }
    assert {k: totals[f"ann_{k}"] for k in ann} == ann
    assert {k: totals[f"snn_{k}"] for k in ann} == ann and totals["sops"] == 0


@pytest.mark.parametrize("family", ["llama", "gemma2", "bert"])
def test_the_ann_side_does_not_depend_on_whether_attention_spikes(family):
    """The float attention is priced as the ANN side of the spiking core (Gemma 2: its score
    soft-cap tanh too; BERT: no causal mask), RoPE folded in both: one model, one ``E_ANN``."""
    sides = []
    for spike_attention in (True, False):
        snn, inputs = calibrated_snn(family, spike_attention)
        with count_spikes(snn) as counts, torch.inference_mode():
            snn(**inputs)
        totals = column_totals(counts)
        sides.append({k: v for k, v in totals.items() if k.startswith("ann_")})
    assert sides[0] == sides[1]


def test_an_operation_neither_priced_nor_free_stops_the_count():
    class Exp(nn.Module):
        def forward(self, x):
            return torch.exp(x)  # a float function outside every operator: unpriced

    model = nn.Sequential(nn.Sequential(Exp()))
    refused = pytest.raises(ValueError, match=r"ATen operation 'exp' at 0\.0 .* las/energy/ledger")
    with refused, count_spikes(model):
        model(torch.zeros(3))
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    assert _get_current_dispatch_mode() is None  # the ledger's mode is off again


def test_a_scaling_by_a_scalar_is_free_but_a_quotient_of_one_is_not():
    """Gemma's embedding scale (a 0-d tensor) folds into the table; ``c / x`` is a reciprocal."""
    x, c = torch.ones(2, 3), torch.tensor(2.5)
    for name, args in (("mul", (x, c)), ("mul", (c, x)), ("div", (x, c)), ("mul", (x, 0.5))):
        assert free_reason(name, x, args) is not None, (name, args)
    assert free_reason("div", x, (c, x)) is None
    assert free_reason("mul", x, (x, x)) is None


def test_evaluation_batches_of_a_causal_lm_count_on_opt():
    """Causal batches carry an all-ones integer mask, so OPT's positions stay index arithmetic
    (without one it builds float ones and float positions, which the ledger refuses)."""
    cfg = data.data_config("embedded_prose")
    batch = data.evaluation_batches(byte_tokenizer(), cfg)[0]
    assert batch["attention_mask"].dtype == torch.int64 and bool(batch["attention_mask"].all())
    snn, _ = calibrated_snn("opt")
    ids = batch["input_ids"][:1, :12] % snn.config.vocab_size
    with count_spikes(snn) as counts, torch.inference_mode():
        snn(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert sum(c.spikes for c in counts.values()) > 0
    refused = pytest.raises(ValueError, match="neither priced nor free")
    with refused, torch.inference_mode(), count_spikes(snn):
        snn(input_ids=ids)
