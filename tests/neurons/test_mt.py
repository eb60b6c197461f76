"""MT neuron (METHOD.md M1): closed form vs step simulation, counts, resolution, errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from las.errors import NonFiniteActivationError
from las.neurons import MTNeuron
from tests.neurons.strategies import activations, steps, thresholds
from tests.neurons.test_codes import textbook_naf


def reference_code(x: float, tau: float, T: int) -> int:
    """M1's T-bit code computed with Python integers/floats element by element."""
    return min(math.floor(abs(x) * 2**T / tau), 2**T - 1)


@given(x=activations(), tau=thresholds, T=steps)
def test_train_sums_exactly_to_closed_form(x, tau, T):
    neuron = MTNeuron(tau, T=T)
    train = neuron.spikes(x)
    assert train.shape == (T, *x.shape) and train.dtype == x.dtype
    assert torch.equal(train.sum(0, dtype=torch.float64).to(x.dtype), neuron(x))
    assert torch.allclose(train.sum(0).double(), neuron(x).double(), rtol=1e-6, atol=0)


@given(x=activations(), tau=thresholds, T=steps)
def test_spike_mode_equals_fast_mode(x, tau, T):
    assert torch.equal(MTNeuron(tau, T, mode="spike")(x), MTNeuron(tau, T, mode="fast")(x))


@given(x=activations(dtype=torch.float64), tau=thresholds, T=steps)
def test_closed_form_matches_elementwise_reference(x, tau, T):
    neuron = MTNeuron(tau, T=T)
    tau32 = float(torch.tensor(tau, dtype=torch.float32))
    codes = [reference_code(v, tau32, T) for v in x.flatten().tolist()]
    expected = torch.tensor(
        [
            math.copysign(q * tau32 / 2**T, v) if v else 0.0
            for q, v in zip(codes, x.flatten(), strict=False)
        ],
        dtype=torch.float64,
    ).reshape(x.shape)
    assert torch.equal(neuron(x), expected)
    popcounts = torch.tensor([bin(q).count("1") for q in codes]).reshape(x.shape)
    assert torch.equal(neuron.count(x), popcounts)


@given(x=activations(), tau=thresholds, T=steps)
def test_count_equals_direct_count_of_train(x, tau, T):
    neuron = MTNeuron(tau, T=T)
    fired = torch.stack([f for _, f in neuron.simulate(x)])
    assert torch.equal(neuron.count(x), fired.sum(0))
    assert bool((neuron.count(x) <= T).all())


@given(x=activations(dtype=torch.float64), tau=thresholds, T=st.integers(4, 20))
def test_resolution_below_threshold(x, tau, T):
    neuron = MTNeuron(tau, T=T)
    tau32 = float(torch.tensor(tau, dtype=torch.float32))
    clamped = x.clamp(-tau32 * (1 - 2.0**-T), tau32 * (1 - 2.0**-T))
    err = (neuron(x) - clamped).abs()
    assert bool((err < tau32 / 2**T * (1 + 1e-9)).all())


def test_spike_weights_are_powers_of_two_of_tau():
    neuron = MTNeuron(2.0, T=4)
    train = neuron.spikes(torch.tensor([1.875, -0.5]))
    assert train[:, 0].tolist() == [1.0, 0.5, 0.25, 0.125]
    assert train[:, 1].tolist() == [0.0, -0.5, 0.0, 0.0]


def test_cap_at_top_code_for_values_at_threshold():
    # tau*(1-2^-T)*2^T/tau may round below 2^T-1; the floor-then-cap rule must give the top code.
    for tau in (0.1, 0.3, 0.7, 3.3):
        neuron = MTNeuron(tau, T=16)
        assert int(neuron.count(torch.tensor([tau * (1 - 2**-16)], dtype=torch.float64))) >= 15
        assert int(neuron.count(torch.tensor([10 * tau]))) == 16


def test_per_channel_thresholds_broadcast_over_trailing_dim():
    tau = torch.tensor([0.5, 1.0, 4.0])
    x = torch.full((2, 3), 0.75)
    out = MTNeuron(tau, T=8)(x)
    assert out[0].tolist() == pytest.approx([0.5 * (1 - 2**-8), 0.75, 0.75])


def test_half_precision_inputs_are_exact():
    x = torch.linspace(-3, 3, 101)
    for dtype in (torch.bfloat16, torch.float16):
        neuron = MTNeuron(1.0, T=10)
        xd = x.to(dtype)
        train = neuron.spikes(xd)
        assert neuron(xd).dtype == dtype
        assert torch.equal(train.sum(0, dtype=torch.float64).to(dtype), neuron(xd))
        assert torch.equal(train.sum(0), neuron(xd))


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_tau_is_named(tau):
    with pytest.raises(ValueError, match="tau"):
        MTNeuron(tau)


@pytest.mark.parametrize("T", [0, -3, 2.5, 100, True])
def test_invalid_steps_are_named(T):
    with pytest.raises(ValueError, match="T must be"):
        MTNeuron(1.0, T=T)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input_names_the_site(bad):
    neuron = MTNeuron(1.0, site="layers.0.mlp.down_proj.input")
    x = torch.tensor([0.5, bad])
    for call in (neuron, neuron.spikes, neuron.count):
        with pytest.raises(NonFiniteActivationError, match=r"layers\.0\.mlp\.down_proj\.input"):
            call(x)


def test_mismatched_threshold_shape_is_named():
    neuron = MTNeuron(torch.ones(4))
    with pytest.raises(ValueError, match="tau of shape"):
        neuron(torch.ones(2, 3))


def test_reruns_are_identical():
    neuron = MTNeuron(1.0, mode="spike")
    x = torch.randn(16)
    assert torch.equal(neuron(x), neuron(x))


@pytest.mark.parametrize("T", [8, 16, 24])
def test_float32_codes_are_the_true_floor(T):
    # float32 |x| 2**T / tau can round up onto the next integer; M1 wants the floor.
    gen = torch.Generator().manual_seed(T)
    x = torch.randn(200_000, generator=gen) * 3
    tau = torch.tensor(2.7182817, dtype=torch.float32)
    q_true = torch.floor(x.double().abs() * 2.0**T / tau.double()).clamp(max=2.0**T - 1)
    neuron = MTNeuron(tau, T=T)
    assert torch.equal(neuron.count(x), popcount_reference(q_true))
    expected = torch.copysign(q_true * tau.double() * 2.0**-T, x.double()).float()
    assert torch.equal(neuron(x), expected)
    assert torch.equal(neuron.spikes(x).sum(0, dtype=torch.float64).float(), expected)


def popcount_reference(q: torch.Tensor) -> torch.Tensor:
    """Set bits of each integer code, one shift per bit position."""
    return ((q.long()[:, None] >> torch.arange(63)) & 1).sum(1)


# The signed-digit code (M11): the same values as M1, its NAF as the train.


@given(x=activations(), tau=thresholds, T=steps)
def test_naf_values_equal_binary_bit_for_bit_in_both_modes(x, tau, T):
    binary = MTNeuron(tau, T)(x)
    fast, spike = (MTNeuron(tau, T, mode=m, code="naf")(x) for m in ("fast", "spike"))
    assert torch.equal(fast, binary) and torch.equal(spike, binary)
    train = MTNeuron(tau, T, code="naf").spikes(x)
    assert train.shape == (T + 1, *x.shape) and train.dtype == x.dtype
    assert torch.equal(train.sum(0, dtype=torch.float64).to(x.dtype), binary)


@given(x=activations(dtype=torch.float64), tau=thresholds, T=steps)
def test_naf_count_is_the_textbook_count_of_non_zero_digits(x, tau, T):
    neuron = MTNeuron(tau, T, code="naf")
    tau32 = float(torch.tensor(tau, dtype=torch.float32))
    codes = [reference_code(v, tau32, T) for v in x.flatten().tolist()]
    expected = torch.tensor([sum(d != 0 for d in textbook_naf(q)) for q in codes])
    count = neuron.count(x)
    assert torch.equal(count, expected.reshape(x.shape))
    fired = torch.stack([f for _, f in neuron.simulate(x)])
    assert torch.equal(count, fired.sum(0)) and torch.equal(count, (neuron.spikes(x) != 0).sum(0))
    assert bool((count <= MTNeuron(tau, T).count(x)).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("T", [24, 29])
def test_naf_is_exact_up_to_the_largest_T(T, dtype):
    # 29 bits + the step-0 digit: every partial sum of the train is still exact in float64
    gen = torch.Generator().manual_seed(T)
    x = (torch.randn(20_000, generator=gen, dtype=torch.float64) * 0.7).to(dtype)
    tau = torch.tensor(1.3, dtype=torch.float32)
    binary = MTNeuron(tau, T)
    naf = MTNeuron(tau, T, code="naf")
    assert torch.equal(naf(x), binary(x))
    assert torch.equal(MTNeuron(tau, T, mode="spike", code="naf")(x), binary(x))
    assert torch.equal(naf.spikes(x, torch.float64).cumsum(0)[-1].to(dtype), binary(x))
    assert int(naf.count(x).sum()) < 0.75 * int(binary.count(x).sum())
