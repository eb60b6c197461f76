"""Spike trains computed step by step: what spike mode passes between operators (METHOD.md M6).

A :class:`SpikeStream` is a train ``[steps, ...]`` that is never stored: iterating it runs its
producers one step at a time, so an operator holds one step of each train it reads plus its own
state (a running sum, a membrane), not ``T`` steps. A neuron layer is where streams meet the M6
pipelining: it reads the accumulated input ``S_X(T)`` (one pass over the input stream, summed
into one float64 accumulator) and then emits its own train from that value, step by step.

A stream read by two consumers (a neuron's train feeding two linear maps, the exp train feeding
the row sum and the Hadamard product) is produced twice, with the same values: every producer is
a deterministic function of values already accumulated. That costs time, not memory; the
accumulated value is computed once per stream and kept (:meth:`SpikeStream.total`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from las.neurons.base import SpikingNeuron

Step = Callable[[Tensor], Tensor]


class SpikeStream:
    """A spike train of ``steps`` steps produced on demand by ``source`` (a fresh iterator of the
    steps, time order, each a tensor of the train's step shape; broadcasting views allowed).

    ``total``: the accumulated value when it is known without a pass (a lifted input).
    """

    def __init__(
        self, steps: int, source: Callable[[], Iterator[Tensor]], total: Tensor | None = None
    ) -> None:
        self.steps = steps
        self._source = source
        self._total = total

    def __iter__(self) -> Iterator[Tensor]:
        produced = 0
        for step in self._source():
            produced += 1
            yield step
        if produced != self.steps:
            raise RuntimeError(f"a {self.steps}-step spike stream produced {produced} steps")

    @classmethod
    def of(cls, train: Tensor) -> SpikeStream:
        """A stored train ``[steps, ...]`` as a stream (its steps are views of it)."""
        return cls(train.shape[0], lambda: iter(train.unbind(0)))

    @classmethod
    def of_neuron(cls, neuron: SpikingNeuron, x: Tensor) -> SpikeStream:
        """The train ``neuron`` emits for the accumulated input ``x``, simulated step by step
        (:meth:`SpikingNeuron.simulate`) in ``x``'s dtype: the steps of ``neuron.spikes(x)``."""
        outputs = lambda: (out.to(x.dtype) for out, _ in neuron.simulate(x, fired=False))  # noqa: E731
        return cls(neuron.steps, outputs)

    def map(self, fn: Callable[[int, Tensor], Tensor]) -> SpikeStream:
        """The stream ``O(t) = fn(t, X(t))`` (``t`` 0-based): a per-step map of this train."""
        return SpikeStream(self.steps, lambda: (fn(t, s) for t, s in enumerate(self)))

    def total(self) -> Tensor:
        """``S(T)``: the steps summed in float64 (one accumulator, step by step), cast back to
        the steps' dtype; computed on the first call and kept.

        Partial sums of float32 steps are exact in float64 unless the steps span more than 29
        binary orders of magnitude, so the order of summation does not matter.
        """
        if self._total is None:
            steps = iter(self)
            first = next(steps)
            accumulator = first.to(torch.float64, copy=True)
            for step in steps:
                accumulator += step
            self._total = accumulator.to(first.dtype)
        return self._total

    def materialise(self) -> Tensor:
        """The whole train ``[steps, ...]`` (tests and small inputs: ``steps`` times the memory)."""
        steps = list(self)
        shape = torch.broadcast_shapes(*(s.shape for s in steps))
        return torch.stack([s.expand(shape) for s in steps])


def as_stream(value: Tensor | SpikeStream) -> SpikeStream:
    """``value`` as a stream: a stored train ``[steps, ...]`` is read step by step."""
    return value if isinstance(value, SpikeStream) else SpikeStream.of(value)
