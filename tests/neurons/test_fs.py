"""FS neuron (METHOD.md M3) against its definition; MT as its special case."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from las.neurons import FSNeuron, MTNeuron
from tests.neurons.strategies import activations


def reference_fs(x: float, h, d, th, b: float) -> float:
    v, y = x, -b
    for ht, dt, tht in zip(h, d, th, strict=True):
        z = 1.0 if v >= tht else 0.0
        v -= ht * z
        y += dt * z
    return y


params = st.integers(1, 8).flatmap(
    lambda K: st.tuples(*[st.lists(st.floats(-2, 2), min_size=K, max_size=K) for _ in range(3)])
)


@given(x=activations(dtype=torch.float64, scale=3.0), p=params, b=st.floats(-1, 1))
def test_matches_definition(x, p, b):
    h, d, th = (torch.tensor(v, dtype=torch.float64) for v in p)
    fs = FSNeuron(h, d, th, b)
    expected = torch.tensor(
        [reference_fs(v, *p, b) for v in x.flatten().tolist()], dtype=torch.float64
    )
    assert torch.allclose(fs(x), expected.reshape(x.shape), rtol=0, atol=1e-12)
    assert torch.allclose(fs.spikes(x).sum(0), fs(x), rtol=0, atol=1e-12)
    assert torch.equal(FSNeuron(h, d, th, b, mode="spike")(x), fs(x))


def test_mt_is_the_special_case():
    T, tau = 10, 1.5
    w = tau * 2.0 ** -torch.arange(1, T + 1, dtype=torch.float64)
    fs, mt = FSNeuron(w, w, w), MTNeuron(tau, T)
    x = torch.linspace(0, 1.6, 997, dtype=torch.float64)
    assert torch.equal(fs(x), mt(x))
    assert torch.equal(fs.count(x), mt.count(x))


def test_parameters_must_share_one_length():
    with pytest.raises(ValueError, match="equal length K"):
        FSNeuron(torch.ones(3), torch.ones(2), torch.ones(3))
