"""No free operations (METHOD.md M8 addendum): every ATen operation of a converted forward of
each tiny family, outside the neurons, is priced by a rule or the ledger, or free by a stated
convention (``las/energy/ledger.py``), and what the ledger prices is what the forward ran."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode

from las import convert_model, data
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


def calibrated_snn(family: str) -> tuple[nn.Module, dict]:
    model = tiny_model(family)
    calibration, _ = calibrate_model(model, [tiny_inputs(family, seed=s) for s in range(2)])
    return convert_model(model, calibration), tiny_inputs(family, seed=5)


@pytest.mark.parametrize("grad_mode", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_every_operation_outside_the_neurons_is_priced_or_free(family, grad_mode):
    snn, inputs = calibrated_snn(family)
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
    # No float product or function is left inside a block (M5): the SNN's MAC column is zero.
    inside = [c for c in counts.values() if in_block(c.layer)]
    assert inside and not any(c.snn_macs or c.snn_functions for c in inside)


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
