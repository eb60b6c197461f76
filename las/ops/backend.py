"""The two simulation backends every spike-equivalent operator is written against (M5, M6).

A composite operator (softmax, norms, FFN) is one function of a backend ``sim``. In ``FastSim``
values are accumulated activations (what a spike train sums to); in ``SpikeSim`` they are spike
trains of ``T`` steps and every primitive follows M5's per-step formula:

* ``encode``: fast ``neuron(x)``; spike: the neuron reads the accumulated input, emits its train.
* ``linear``: fast ``W x + b``; spike ``O(t) = W X(t)`` (+ ``b`` at ``t = 1``).
* ``affine``: fast ``fn(x)`` for a linear ``fn``; spike ``O(t) = fn(X(t))``.
* ``shift``: fast ``x + c``; spike: ``c`` injected at ``t = 1``.
* ``product``: fast ``fn(a, b)`` for a bilinear ``fn``; spike
  ``O(t) = fn(S_A(t), S_B(t)) - fn(S_A(t-1), S_B(t-1))``.
* ``nonlinear``: fast ``g(x)``; spike: an HG neuron is a neuron layer like any other (M6
  pipelining): it reads the accumulated input ``S_X(T)`` once and emits its own ``K``-step train,
  so it is evaluated once, as energy accounting counts it (M8). A float function (the "without
  HG" ablation, a baseline) is evaluated once on ``S_X(T)`` and its value arrives at step 1.
* ``row_max``: fast: the maximum of the neuron's codes over the last dim (the closed form of
  M13); spike: the neuron emits its train and the MSB-first elimination of M13 runs on it
  (:mod:`las.ops.maximum`). A float site gives the float maximum of its value. The score
  neuron keeps the binary code in a signed-digit (M11) model: its ``T``-step train reaches only
  the comparator.

Trains may differ in length (``T`` steps of MT/OAT trains, ``K`` of HG trains): a product pads
the shorter with silent steps. Summing a spike-mode result over ``t`` gives the fast-mode result
up to floating-point rounding of the sums (trains are kept in the working dtype; accumulated
inputs of neurons and running sums of products are summed in float64). Trains are streams
(:class:`las.ops.stream.SpikeStream`): each primitive computes one step at a time as its consumer
reads it, so a composite operator holds a step of every train it passes, never a whole train;
a neuron layer reads its whole input stream into one accumulator before it emits (M6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import zip_longest

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from las.modes import Mode
from las.neurons.base import SpikingNeuron
from las.ops import fused
from las.ops.maximum import eliminate, survivor_value
from las.ops.stream import SpikeStream, as_stream

Linear = Callable[[Tensor], Tensor]
Bilinear = Callable[[Tensor, Tensor], Tensor]


class FastSim:
    """Closed-form evaluation on accumulated values (one pass)."""

    mode = Mode.FAST

    def lift(self, x: Tensor) -> Tensor:
        """Represent a float input (the accumulated output of an upstream layer)."""
        return x

    def accumulate(self, v: Tensor) -> Tensor:
        """The accumulated value of ``v`` (identity here)."""
        return v

    def encode(self, neuron: nn.Module, v: Tensor) -> Tensor:
        return neuron(v)

    def linear(self, v: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        return F.linear(v, weight, bias)

    def affine(self, fn: Linear, v: Tensor) -> Tensor:
        return fn(v)

    def shift(self, v: Tensor, c: Tensor | float) -> Tensor:
        return v + c

    def product(self, a: Tensor, b: Tensor, fn: Bilinear = torch.mul) -> Tensor:
        return fn(a, b)

    def nonlinear(self, g: nn.Module, v: Tensor) -> Tensor:
        return g(v)

    def row_max(self, neuron: nn.Module, v: Tensor, keep: Tensor | None = None) -> Tensor:
        """``[..., 1]``: the maximum of ``neuron(v)`` over the kept entries of the last dim (0
        for a row with none): the value M13's elimination finds on the neuron's train. A large
        float32 map takes one fused pass (:func:`las.ops.fused.row_max`, the same value)."""
        fused_top = fused.row_max(neuron, v, keep)
        if fused_top is not None:
            return fused_top
        codes = neuron(v)
        if keep is None:
            return codes.amax(-1, keepdim=True)
        top = codes.masked_fill(~keep, float("-inf")).amax(-1, keepdim=True)
        return torch.where(keep.any(-1, keepdim=True), top, torch.zeros_like(top))


class SpikeSim:
    """Per-step simulation on spike trains, passed as :class:`las.ops.stream.SpikeStream`.

    Every primitive returns a stream that computes its steps when read, so an operator holds one
    step of each train (and a step of state) instead of ``T`` (M6). Inputs may also be stored
    trains ``[T, ...]`` (read step by step).
    """

    mode = Mode.SPIKE

    def __init__(self, T: int) -> None:
        self.T = T

    def lift(self, x: Tensor) -> SpikeStream:
        """An input value as a train: the whole value arrives at step 1 (its sum is ``x``)."""
        silent = torch.zeros((), dtype=x.dtype, device=x.device).expand(x.shape)
        return SpikeStream(self.T, lambda: iter([x, *[silent] * (self.T - 1)]), total=x)

    def accumulate(self, v: Tensor | SpikeStream) -> Tensor:
        """``S(T)``: the train summed over time in float64 (step by step into one accumulator),
        cast back to its dtype (:meth:`SpikeStream.total`)."""
        return as_stream(v).total()

    def encode(self, neuron: nn.Module, v: Tensor | SpikeStream) -> SpikeStream:
        """A neuron layer reads its producers' accumulated input and emits its own train (M6)."""
        if neuron.steps != self.T:
            raise ValueError(f"neuron has {neuron.steps} steps but the operator runs {self.T}")
        return SpikeStream.of_neuron(neuron, self.accumulate(v))

    def linear(
        self, v: Tensor | SpikeStream, weight: Tensor, bias: Tensor | None = None
    ) -> SpikeStream:
        def step(t: int, s: Tensor) -> Tensor:
            out = F.linear(s, weight)
            if bias is not None and t == 0:
                out += bias
            return out

        return as_stream(v).map(step)

    def affine(self, fn: Linear, v: Tensor | SpikeStream) -> SpikeStream:
        return as_stream(v).map(lambda t, s: fn(s))

    def shift(self, v: Tensor | SpikeStream, c: Tensor | float) -> SpikeStream:
        def step(t: int, s: Tensor) -> Tensor:
            constant = torch.as_tensor(c, dtype=s.dtype, device=s.device)
            if t == 0:
                return s + constant
            return s.expand(torch.broadcast_shapes(s.shape, constant.shape))

        return as_stream(v).map(step)

    def product(
        self, a: Tensor | SpikeStream, b: Tensor | SpikeStream, fn: Bilinear = torch.mul
    ) -> SpikeStream:
        """``O(t) = fn(S_A(t), S_B(t)) - fn(S_A(t-1), S_B(t-1))``; the shorter train continues
        with silent steps. Running sums are kept in float64 and cast to the steps' dtype for
        ``fn`` (as a cumulative sum over a stored train computes them)."""
        a, b = as_stream(a), as_stream(b)

        def steps() -> Iterator[Tensor]:
            sums: list[Tensor | None] = [None, None]
            dtypes: list[torch.dtype | None] = [None, None]
            previous = None
            for pair in zip_longest(a, b):
                for i, step in enumerate(pair):
                    if step is not None:
                        sums[i] = step.double() if sums[i] is None else sums[i] + step
                        dtypes[i] = step.dtype
                current = fn(*(s.to(d) for s, d in zip(sums, dtypes, strict=True)))
                yield current if previous is None else current - previous
                previous = current

        return SpikeStream(max(a.steps, b.steps), steps)

    def nonlinear(self, g: nn.Module, v: Tensor | SpikeStream) -> SpikeStream:
        x = self.accumulate(v)
        return SpikeStream.of_neuron(g, x) if isinstance(g, SpikingNeuron) else self.lift(g(x))

    def row_max(
        self, neuron: nn.Module, v: Tensor | SpikeStream, keep: Tensor | None = None
    ) -> Tensor:
        """M13 on the neuron's train: each row's first survivor's accumulated code, ``[..., 1]``.

        Two passes over the neuron's train (its own length: binary even in a NAF model, M13 needs
        bits): its sum (the codes, whose signs rank them first), then the elimination.
        """
        x = self.accumulate(v)
        if not isinstance(neuron, SpikingNeuron):
            return FastSim().row_max(neuron, x, keep)
        train = SpikeStream.of_neuron(neuron, x)
        codes = train.total()
        valid = torch.ones_like(x, dtype=torch.bool) if keep is None else keep.expand(x.shape)
        survivors, _ = eliminate((step != 0 for step in train), codes > 0, valid)
        return survivor_value(codes, survivors)


Sim = FastSim | SpikeSim


def make_sim(mode: Mode | str, T: int) -> Sim:
    """The backend for ``mode`` (``T`` steps in spike mode)."""
    return FastSim() if Mode.parse(mode) is Mode.FAST else SpikeSim(T)
