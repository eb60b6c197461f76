"""IF neuron with soft reset (METHOD.md M9): closed form vs simulation, rate code."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from las.neurons import IFNeuron
from tests.neurons.strategies import activations


def reference_if(x: float, theta: float, T: int) -> int:
    v, n = theta / 2, 0
    for _ in range(T):
        m = v + x
        s = m >= theta
        v = m - theta * s
        n += s
    return n


@given(
    x=activations(dtype=torch.float64, scale=3.0), theta=st.floats(0.1, 4.0), T=st.integers(1, 29)
)
def test_closed_form_equals_simulation(x, theta, T):
    neuron = IFNeuron(theta, T=T)
    assert torch.equal(IFNeuron(theta, T=T, mode="spike")(x), neuron(x))
    fired = torch.stack([f for _, f in neuron.simulate(x)])
    assert torch.equal(neuron.count(x), fired.sum(0))
    assert torch.equal(neuron.spikes(x).sum(0), neuron(x))


def test_matches_plain_python_recurrence_on_dyadic_inputs():
    theta, T = 1.0, 8
    x = torch.arange(-16, 48, dtype=torch.float64) / 32
    expected = torch.tensor([reference_if(v, theta, T) for v in x.tolist()])
    assert torch.equal(IFNeuron(theta, T).count(x), expected)


def test_rate_code_approximates_input_within_half_a_level():
    theta, T = 2.0, 16
    x = torch.linspace(0, theta, 501, dtype=torch.float64)
    err = (IFNeuron(theta, T)(x) - x).abs()
    assert float(err.max()) <= theta / (2 * T) + 1e-12


def test_invalid_threshold_is_named():
    with pytest.raises(ValueError, match="theta"):
        IFNeuron(0.0)
