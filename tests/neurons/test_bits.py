"""Per-site bits (METHOD.md M12): a ``B``-bit code in a T-step train, both codes, both modes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from las.neurons import MTNeuron, OATNeuron, compiled
from tests.neurons.strategies import activations, thresholds
from tests.neurons.test_compiled import SHAPE, eager, hard_inputs
from tests.neurons.test_mt import reference_code

CODES = st.sampled_from(["binary", "naf"])


@st.composite
def steps_and_bits(draw):
    """``(T, B)`` with ``1 <= B <= T <= 20``."""
    T = draw(st.integers(1, 20))
    return T, draw(st.integers(1, T))


@given(x=activations(), tau=thresholds, TB=steps_and_bits(), code=CODES)
def test_value_and_count_are_the_B_bit_neurons_in_a_T_step_train(x, tau, TB, code):
    T, B = TB
    neuron = MTNeuron(tau, T, code=code, bits=B)
    short = MTNeuron(tau, B, code=code)
    assert torch.equal(neuron(x), short(x))
    assert torch.equal(neuron.count(x), short.count(x))
    train = neuron.spikes(x)
    assert train.shape == (neuron.steps, *x.shape) and neuron.steps == short.steps + T - B
    assert not train[neuron.steps - (T - B) :].any()  # the last T - B steps are silent
    assert torch.equal(train.sum(0, dtype=torch.float64).to(x.dtype), neuron(x))


@given(x=activations(), tau=thresholds, TB=steps_and_bits(), code=CODES)
def test_spike_mode_equals_fast_mode_and_counts_the_train(x, tau, TB, code):
    T, B = TB
    fast = MTNeuron(tau, T, code=code, bits=B)
    assert torch.equal(MTNeuron(tau, T, mode="spike", code=code, bits=B)(x), fast(x))
    fired = torch.stack([f for _, f in fast.simulate(x)])
    assert torch.equal(fast.count(x), fired.sum(0))


@given(x=activations(dtype=torch.float64), tau=thresholds, TB=steps_and_bits())
def test_binary_count_is_the_popcount_of_the_B_bit_code(x, tau, TB):
    T, B = TB
    tau32 = float(torch.tensor(tau, dtype=torch.float32))
    codes = [reference_code(v, tau32, B) for v in x.flatten().tolist()]
    popcounts = torch.tensor([bin(q).count("1") for q in codes]).reshape(x.shape)
    neuron = MTNeuron(tau, T, bits=B)
    assert torch.equal(neuron.count(x), popcounts)
    values = torch.tensor(codes, dtype=torch.float64).reshape(x.shape) * tau32 / 2**B
    assert torch.equal(neuron(x), torch.copysign(values, x))


@given(x=activations(scale=40.0), TB=steps_and_bits(), code=CODES)
def test_oat_keeps_both_thresholds_at_B_bits(x, TB, code):
    T, B = TB
    oat = OATNeuron(0.5, 20.0, T, code=code, bits=B)
    assert torch.equal(oat(x), OATNeuron(0.5, 20.0, B, code=code)(x))
    assert torch.equal(oat.count(x), OATNeuron(0.5, 20.0, B, code=code).count(x))
    assert torch.equal(OATNeuron(0.5, 20.0, T, mode="spike", code=code, bits=B)(x), oat(x))


@pytest.mark.parametrize("bits", [16, 9, 3])
def test_fused_value_at_B_bits_equals_the_closed_form(bits):
    gen = torch.Generator().manual_seed(bits)
    nor = torch.rand(SHAPE[1], generator=gen) * 0.5 + 0.1
    neuron = OATNeuron(nor, nor * 9.7, T=16, bits=bits)
    x = torch.cat([hard_inputs(neuron.tau, bits, gen), hard_inputs(neuron.theta_out, bits, gen)])
    assert compiled.wanted(x)
    assert torch.equal(neuron(x), eager(neuron, x))
    assert torch.equal(eager(neuron, x), OATNeuron(nor, nor * 9.7, T=bits)(x))


@pytest.mark.parametrize("bits", [0, 17, 2.5, True])
def test_bits_outside_1_to_T_are_refused_by_name(bits):
    with pytest.raises(ValueError, match="bits"):
        MTNeuron(1.0, T=16, bits=bits)
