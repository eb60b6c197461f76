"""HG neuron (METHOD.md M4): gate + FS segments against the definition, modes, clamping."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given

from las.fitting import fit_hg_neuron
from las.fitting.functions import FUNCTIONS
from las.neurons import FSNeuron, HGNeuron
from las.neurons.hg import integer_tables, segment_output
from tests.neurons.strategies import activations


def segment_fs(neuron: HGNeuron, i: int) -> FSNeuron:
    """The FS sub-neuron of segment ``i`` written out with M3's parameters."""
    K, t = neuron.K, torch.arange(1, neuron.K + 1, dtype=torch.float64)
    width = float(neuron.edges[i + 1] - neuron.edges[i])
    hw = width * 2.0**-t
    d = float(neuron.delta[i]) * 2.0 ** (K - t)
    return FSNeuron(hw, d, hw, b=-float(neuron.offset[i]))


@pytest.fixture(scope="module")
def exp_neuron() -> HGNeuron:
    return fit_hg_neuron("exp", -4.0, 0.0, K=10, tolerance=1e-3)[0]


@given(x=activations(dtype=torch.float64, scale=5.0))
def test_gate_routes_to_segment_fs_neurons(exp_neuron, x):
    edges = exp_neuron.edges.double()
    xc = x.clamp(edges[0], edges[-1]).flatten()
    seg = torch.bucketize(xc, edges[1:-1], right=True)
    expected = torch.stack(
        [
            segment_fs(exp_neuron, int(s))((v - edges[s]).reshape(1))[0]
            for v, s in zip(xc, seg, strict=False)
        ]
    )
    assert torch.allclose(exp_neuron(x).flatten(), expected, rtol=0, atol=1e-12)


@given(x=activations(scale=5.0))
def test_modes_and_train_agree_exactly(exp_neuron, x):
    spike = HGNeuron(
        exp_neuron.edges, exp_neuron.delta, exp_neuron.offset, K=exp_neuron.K, mode="spike"
    )
    assert torch.equal(spike(x), exp_neuron(x))
    train = exp_neuron.spikes(x, dtype=torch.float64)
    assert torch.equal(train.sum(0).to(x.dtype), exp_neuron(x))
    fired = torch.stack([f for _, f in exp_neuron.simulate(x)])
    assert torch.equal(exp_neuron.count(x), fired.sum(0))


def test_out_of_range_inputs_are_clamped_and_counted(exp_neuron):
    exp_neuron.reset()
    y = exp_neuron(torch.tensor([-10.0, -1.0, 2.0]))
    assert int(exp_neuron.n_clamped) == 2
    assert float(y[2]) == pytest.approx(1.0, rel=1e-3)
    assert float(y[0]) == pytest.approx(float(torch.exp(torch.tensor(-4.0))), rel=1e-3)


def test_even_symmetry_evaluates_on_magnitude():
    square = fit_hg_neuron("square", 2**-6, 4.0)[0]
    x = torch.tensor([-1.5, 1.5], dtype=torch.float64)
    y = square(x)
    assert float(y[0]) == float(y[1]) == pytest.approx(2.25, rel=1e-4)


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError, match="ascending"):
        HGNeuron(torch.tensor([0.0, 0.0]), torch.zeros(1), torch.zeros(1))
    with pytest.raises(ValueError, match="delta must have shape"):
        HGNeuron(torch.tensor([0.0, 1.0]), torch.zeros(2), torch.zeros(1))


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [(name, None, None) for name in sorted(FUNCTIONS)] + [("exp", -64.0, 3.3125)],
)
def test_every_fitted_function_has_exact_integer_tables(name, low, high):
    """M4's FS outputs ``offset + delta q`` as int64 tables (the fused passes' form): present
    for every registered function, equal to the float32 parameters, and each output the float64
    closed form's, rounded once, for every segment at the codes where rounding is hardest.
    ``exp`` down to -64 (an attention map's range) has outputs near 2**-92 and needs the shift
    ``c > 0``."""
    neuron = fit_hg_neuron(name, low, high)[0]
    tables = neuron.integer_tables
    assert tables is not None
    units, packed, c = tables
    assert c > 0 if low == -64.0 else c >= 0
    g = ((packed & 255) - 127 - c).double()
    assert torch.equal(units.double() * 2.0**g, neuron.offset.double())
    assert torch.equal((packed >> 8).double() * 2.0**g, neuron.delta.double())
    n, top = neuron.delta.numel(), 2**neuron.K - 1
    index = torch.arange(n).repeat_interleave(5)
    q = torch.tensor([0.0, 1.0, 2.0 ** (neuron.K - 1), top - 1, top]).repeat(n)
    want = torch.addcmul(neuron._offset64[index], neuron._delta64[index], q.double()).float()
    assert torch.equal(segment_output(tables, index, q), want)


def test_integer_tables_refuse_what_they_cannot_evaluate_exactly():
    offset, delta = torch.tensor([1.0, 0.5]), torch.tensor([2.0**-20, -(2.0**-21)])
    assert integer_tables(offset, delta, K=16) is not None
    assert integer_tables(torch.tensor([-0.0, 0.5]), delta, K=16) is None  # a signed zero
    assert integer_tables(torch.tensor([1.0, 2.0**-140]), delta, K=16) is None  # subnormal out
    assert integer_tables(torch.tensor([2.0**100, 0.5]), delta, K=16) is None  # > 53 bits
    big = torch.tensor([1.5 * 2.0**127, 0.5]), torch.tensor([2.0**126, 0.0])
    assert integer_tables(*big, K=16) is None  # outputs past float32's range
    assert integer_tables(*big, K=1) is None  # even q <= 1: 1.5 2**127 + 2**126 = 2**128
    # a refused bank still evaluates, by the float64 closed form
    edges = torch.tensor([0.0, 1.0, 2.0])
    neuron = HGNeuron(edges, delta, torch.tensor([-0.0, 0.5]), K=16, partition=("uniform", 1))
    assert neuron.integer_tables is None
    x = torch.rand(64, 1024) * 2
    assert neuron._fused(x) is None
    assert torch.equal(neuron(x), neuron.closed_form(x)[0].float())
