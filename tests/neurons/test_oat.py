"""OAT neuron (METHOD.md M2): routing, clamping, equivalence, errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from las.neurons import MTNeuron, OATNeuron
from tests.neurons.strategies import activations, steps

threshold_pairs = st.tuples(st.floats(1e-2, 4.0), st.floats(1.01, 64.0)).map(
    lambda p: (p[0], p[0] * p[1])
)


@given(x=activations(scale=40.0), pair=threshold_pairs, T=steps)
def test_routing_uses_the_matching_sub_neuron(x, pair, T):
    nor, out = pair
    oat = OATNeuron(nor, out, T=T)
    outlier = oat.outlier_mask(x)
    expected = torch.where(outlier, MTNeuron(out, T)(x), MTNeuron(nor, T)(x))
    assert torch.equal(oat(x), expected)
    counts = torch.where(outlier, MTNeuron(out, T).count(x), MTNeuron(nor, T).count(x))
    assert torch.equal(oat.count(x), counts)


@given(x=activations(scale=40.0), pair=threshold_pairs, T=steps)
def test_train_and_modes_agree_exactly(x, pair, T):
    oat = OATNeuron(*pair, T=T)
    assert torch.equal(oat.spikes(x).sum(0, dtype=torch.float64).to(x.dtype), oat(x))
    assert torch.equal(OATNeuron(*pair, T=T, mode="spike")(x), oat(x))
    fired = torch.stack([f for _, f in oat.simulate(x)])
    assert torch.equal(oat.count(x), fired.sum(0))


@given(x=activations(scale=40.0), pair=threshold_pairs, T=steps)
def test_naf_sub_neurons_keep_the_values_and_route_the_counts(x, pair, T):
    """M11 in OAT: both sub-neurons spell their codes in NAF; values are the binary OAT's."""
    nor, out = pair
    oat = OATNeuron(nor, out, T=T, code="naf")
    assert torch.equal(oat(x), OATNeuron(nor, out, T=T)(x))
    assert torch.equal(OATNeuron(nor, out, T=T, mode="spike", code="naf")(x), oat(x))
    assert torch.equal(oat.spikes(x).sum(0, dtype=torch.float64).to(x.dtype), oat(x))
    sub = (MTNeuron(tau, T, code="naf").count(x) for tau in (out, nor))
    assert torch.equal(oat.count(x), torch.where(oat.outlier_mask(x), *sub))


@given(x=activations(dtype=torch.float64, scale=40.0), pair=threshold_pairs)
def test_clamps_to_outlier_threshold_and_keeps_normal_resolution(x, pair):
    nor32, out32 = (float(torch.tensor(v, dtype=torch.float32)) for v in pair)
    oat = OATNeuron(*pair, T=16)
    y = oat(x)
    assert bool((y.abs() < out32).all())
    normal = x.abs() < nor32
    assert bool(((y - x)[normal].abs() < nor32 / 2**16).all())
    big = (x.abs() >= nor32) & (x.abs() < out32)
    assert bool(((y - x)[big].abs() < out32 / 2**16).all())


def test_outliers_survive_where_single_threshold_clips():
    x = torch.tensor([0.01, 0.2, 50.0])
    single = MTNeuron(1.0, T=8)(x)
    oat = OATNeuron(1.0, 64.0, T=8)(x)
    assert single[2] < 1.0 and abs(oat[2] - 50.0) < 64.0 / 2**8
    assert torch.equal(single[:2], oat[:2])


def test_per_channel_thresholds():
    oat = OATNeuron(torch.tensor([0.5, 2.0]), torch.tensor([8.0, 8.0]), T=12)
    x = torch.tensor([[1.0, 1.0]])
    assert oat.outlier_mask(x).tolist() == [[True, False]]


@pytest.mark.parametrize(("nor", "out"), [(1.0, 1.0), (2.0, 1.0)])
def test_outlier_threshold_must_exceed_normal(nor, out):
    with pytest.raises(ValueError, match=r"theta_out must be > theta_nor"):
        OATNeuron(nor, out)


def test_invalid_normal_threshold_is_named():
    with pytest.raises(ValueError, match="theta_nor"):
        OATNeuron(-1.0, 2.0)


def test_mismatched_threshold_shapes_are_named():
    with pytest.raises(ValueError, match=r"theta_nor .* theta_out"):
        OATNeuron(torch.ones(3), torch.full((4,), 2.0))
