"""IF neuron with soft reset (METHOD.md M9): closed form vs simulation, rate code."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from las.neurons import IFNeuron
from tests.neurons.strategies import activations


def reference_if(x: float, theta: float, T: int, initial: float = 0.5) -> int:
    """Spikes of the IF recurrence stepped in Python, from ``v(0) = initial * theta``."""
    v, n = initial * theta, 0
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


@given(
    x=activations(dtype=torch.float64, scale=3.0),
    theta=st.floats(0.1, 4.0),
    initial=st.floats(0.0, 0.999),
    T=st.integers(1, 29),
    signed=st.booleans(),
)
def test_closed_form_equals_simulation_with_any_initial_potential(x, theta, initial, T, signed):
    """M9 with a calibrated initial potential in [0, theta); signed pairs (M10) likewise."""
    neuron = IFNeuron(theta, T=T, initial=initial, signed=signed)
    spiking = IFNeuron(theta, T=T, initial=initial, signed=signed, mode="spike")
    assert torch.equal(spiking(x), neuron(x))
    fired = torch.stack([f for _, f in neuron.simulate(x)])
    assert torch.equal(neuron.count(x), fired.sum(0))
    assert torch.equal(neuron.spikes(x).sum(0), neuron(x))
    if signed:
        assert torch.equal(neuron(x), torch.sign(x) * neuron(x.abs()))


def test_step_simulation_matches_plain_python_with_per_channel_initial_potentials():
    theta = torch.tensor([1.0, 0.5, 2.0, 1.0])
    initial = torch.tensor([0.0, 0.25, 0.75, 0.5])
    x = (torch.arange(-16, 48, dtype=torch.float64) / 32).reshape(64, 1).expand(64, 4)
    neuron = IFNeuron(theta, T=8, initial=initial)
    expected = torch.tensor(
        [
            [reference_if(v, float(theta[c]), 8, float(initial[c])) for c in range(4)]
            for v in x[:, 0].tolist()
        ]
    )
    assert torch.equal(neuron.count(x), expected)


def test_initial_potential_out_of_range_is_refused():
    with pytest.raises(ValueError, match=r"initial potential must be in \[0, 1\)"):
        IFNeuron(1.0, initial=1.0)
