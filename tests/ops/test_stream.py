"""Spike streams (METHOD.md M6): trains produced step by step, never stored."""

from __future__ import annotations

import pytest
import torch

from las.neurons import MTNeuron
from las.ops.stream import SpikeStream, as_stream

from .helpers import oat_for

T = 8


def test_a_stored_train_streams_its_steps_and_sums_in_float64():
    train = torch.randn(T, 3, 4, generator=torch.Generator().manual_seed(0))
    stream = as_stream(train)
    assert torch.equal(stream.materialise(), train)
    expected = train.double().sum(0).float()
    assert torch.equal(stream.total(), expected)
    assert as_stream(stream) is stream


def test_a_neurons_stream_is_its_train_step_for_step():
    x = torch.randn(5, 7, generator=torch.Generator().manual_seed(1))
    for neuron in (MTNeuron(float(x.abs().max()) * 1.1, T=T), oat_for(x, T)):
        stream = SpikeStream.of_neuron(neuron, x)
        assert torch.equal(stream.materialise(), neuron.spikes(x).to(x.dtype))
        assert torch.equal(stream.total(), neuron(x))


def test_a_map_sees_each_step_with_its_index_and_runs_its_source_again_per_pass():
    calls = []

    def source():
        calls.append(1)
        return iter(torch.arange(T, dtype=torch.float32).unbind(0))

    stream = SpikeStream(T, source).map(lambda t, s: s * 10 + t)
    assert stream.materialise().tolist() == [11.0 * t for t in range(T)]
    assert stream.materialise().tolist() == [11.0 * t for t in range(T)]
    assert len(calls) == 2  # streamed twice, stored never


def test_the_total_is_computed_once():
    calls = []

    def source():
        calls.append(1)
        return iter([torch.ones(2)] * T)

    stream = SpikeStream(T, source)
    assert torch.equal(stream.total(), torch.full((2,), float(T)))
    stream.total()
    assert len(calls) == 1


def test_a_stream_that_produces_the_wrong_number_of_steps_is_refused():
    stream = SpikeStream(T, lambda: iter([torch.zeros(1)] * (T - 1)))
    with pytest.raises(RuntimeError, match=f"a {T}-step spike stream produced {T - 1} steps"):
        stream.total()
