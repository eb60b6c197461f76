"""Rounded MT/OAT codes (``rounding = nearest``): a half-spike initial potential, both modes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given

from las import ConversionConfig
from las.config import ConfigError, build
from las.neurons import MTNeuron, OATNeuron, compiled
from tests.neurons.strategies import activations, thresholds
from tests.neurons.test_bits import CODES, steps_and_bits
from tests.neurons.test_compiled import SHAPE, eager, hard_inputs

X0 = torch.tensor(0.0)  # nextafter towards zero


def rounded(x: torch.Tensor, tau: torch.Tensor, B: int) -> torch.Tensor:
    """``sign(x) min(floor(|x| 2**B / tau + 1/2), 2**B - 1) tau / 2**B`` in exact float64."""
    units = x.double().abs() * 2.0**B / tau.double()
    q = torch.clamp(torch.floor(units + 0.5), max=2.0**B - 1)
    return torch.copysign(q * tau.double() * 2.0**-B, x.double())


@given(x=activations(), tau=thresholds, TB=steps_and_bits(), code=CODES)
def test_spike_mode_equals_fast_mode_and_the_train_sums_to_it(x, tau, TB, code):
    T, B = TB
    fast = MTNeuron(tau, T, code=code, bits=B, rounding="nearest")
    spike = MTNeuron(tau, T, mode="spike", code=code, bits=B, rounding="nearest")
    assert torch.equal(spike(x), fast(x))
    assert torch.equal(fast.spikes(x).sum(0, dtype=torch.float64).to(x.dtype), fast(x))
    fired = torch.stack([f for _, f in fast.simulate(x)])
    assert torch.equal(fast.count(x), fired.sum(0))


@given(x=activations(dtype=torch.float64), tau=thresholds, TB=steps_and_bits())
def test_the_code_is_the_rounded_quotient(x, tau, TB):
    T, B = TB
    neuron = MTNeuron(tau, T, bits=B, rounding="nearest")
    assert torch.equal(neuron(x), rounded(x, neuron.tau, B))


@pytest.mark.parametrize("T", [8, 16, 24])
def test_float32_codes_are_the_true_rounded_quotient(T):
    # float32 |x| 2**T / tau + 1/2 can round onto the next integer either way; exact halves too
    gen = torch.Generator().manual_seed(T)
    tau = torch.tensor(2.7182817, dtype=torch.float32)
    k = torch.randint(0, 2**T - 1, (50_000,), generator=gen).double()
    halves = ((k + 0.5) * tau.double() * 2.0**-T).float()
    x = torch.cat([torch.randn(200_000, generator=gen) * 3, halves, torch.nextafter(halves, X0)])
    neuron = MTNeuron(tau, T=T, rounding="nearest")
    expected = rounded(x, tau, T).float()
    assert torch.equal(neuron(x), expected)
    assert torch.equal(neuron.spikes(x).sum(0, dtype=torch.float64).float(), expected)


@pytest.mark.parametrize("bits", [16, 9, 3])
def test_fused_oat_value_equals_the_closed_form(bits):
    gen = torch.Generator().manual_seed(bits)
    nor = torch.rand(SHAPE[1], generator=gen) * 0.5 + 0.1
    neuron = OATNeuron(nor, nor * 9.7, T=16, bits=bits, rounding="nearest")
    x = torch.cat([hard_inputs(neuron.tau, bits, gen), hard_inputs(neuron.theta_out, bits, gen)])
    halves = (torch.randint(0, 2**bits - 1, SHAPE, generator=gen) + 0.5) * nor * 2.0**-bits
    x = torch.cat([x, halves, torch.nextafter(halves, X0)])
    assert compiled.wanted(x)
    assert torch.equal(neuron(x), eager(neuron, x))
    spike = OATNeuron(nor, nor * 9.7, T=16, mode="spike", bits=bits, rounding="nearest")
    assert torch.equal(spike(x), neuron(x))
    tau = torch.where(x.abs() >= nor, nor * 9.7, nor)
    assert torch.equal(neuron(x), rounded(x, tau, bits).float())  # one rounding of q tau


def test_rounding_centres_the_error_and_keeps_the_thresholds():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(100_000, generator=gen, dtype=torch.float64) * 0.3  # few outliers
    floor = OATNeuron(1.0, 8.0, T=16, bits=6)
    nearest = OATNeuron(1.0, 8.0, T=16, bits=6, rounding="nearest")
    step = 2.0**-6  # the normal sub-neuron's smallest spike
    shrink = ((floor(x) - x) * x.sign()).mean()  # the truncation's error towards zero
    assert shrink == pytest.approx(-step / 2, rel=0.05)
    assert abs(float(((nearest(x) - x) * x.sign()).mean())) < step / 50
    assert float((nearest(x) - x).abs().max()) <= 8.0 * 2.0**-7  # half the outliers' spike
    assert torch.equal(nearest.outlier_mask(x), floor.outlier_mask(x))


def test_bad_rounding_is_refused_by_name():
    with pytest.raises(ValueError, match="rounding must be one of"):
        MTNeuron(1.0, T=8, rounding="ceil")
    with pytest.raises(ConfigError, match="rounding"):
        build(ConversionConfig, {"rounding": "up"})
