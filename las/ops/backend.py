"""The two simulation backends every spike-equivalent operator is written against (M5, M6).

A composite operator (softmax, norms, FFN) is one function of a backend ``sim``. In ``FastSim``
values are accumulated activations (what a spike train sums to); in ``SpikeSim`` they are spike
trains ``[T, ...]`` and every primitive follows M5's per-step formula:

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
inputs of neurons are summed in float64). Each step depends only on the cumulative sums up to
it, so all steps are computed in one batched call (dim 0 is time): the per-step arithmetic is
exactly the formula above. Linear maps, bilinear maps and nonlinearities passed in therefore act
on trailing dimensions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from las.modes import Mode
from las.neurons.base import SpikingNeuron
from las.ops import fused
from las.ops.maximum import eliminate, survivor_value

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
    """Per-step simulation on spike trains ``[T, ...]``."""

    mode = Mode.SPIKE

    def __init__(self, T: int) -> None:
        self.T = T

    def lift(self, x: Tensor) -> Tensor:
        """An input value as a train: the whole value arrives at step 1."""
        train = torch.zeros((self.T, *x.shape), dtype=x.dtype, device=x.device)
        train[0] = x
        return train

    def accumulate(self, v: Tensor) -> Tensor:
        """``S(T)``: the train summed over time in float64, cast back to its dtype.

        A float64 train is summed as it is; a narrower one step by step into one float64
        accumulator (1/T of a train) instead of through a float64 copy of the whole train (twice
        its memory). Partial sums of float32 steps are exact in float64 unless the steps span
        more than 29 binary orders of magnitude, so the order of summation does not matter.
        """
        if v.dtype == torch.float64:
            return v.sum(0)
        total = v[0].double()
        for step in v[1:]:
            total += step
        return total.to(v.dtype)

    def encode(self, neuron: nn.Module, v: Tensor) -> Tensor:
        """A neuron layer reads its producers' accumulated input and emits its own train (M6)."""
        x = self.accumulate(v)
        train = neuron.spikes(x)
        if train.shape[0] != self.T:
            raise ValueError(f"neuron has {train.shape[0]} steps but the operator runs {self.T}")
        return train

    def linear(self, v: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        out = F.linear(v, weight)
        if bias is not None:
            out[0] += bias
        return out

    def affine(self, fn: Linear, v: Tensor) -> Tensor:
        return fn(v)

    def shift(self, v: Tensor, c: Tensor | float) -> Tensor:
        c = torch.as_tensor(c, dtype=v.dtype, device=v.device)
        out = v.expand(torch.broadcast_shapes(v.shape, c.shape)).clone()
        out[0] += c
        return out

    def product(self, a: Tensor, b: Tensor, fn: Bilinear = torch.mul) -> Tensor:
        steps = max(a.shape[0], b.shape[0])
        return _difference(fn(_padded(a, steps).cumsum(0), _padded(b, steps).cumsum(0)))

    def nonlinear(self, g: nn.Module, v: Tensor) -> Tensor:
        x = self.accumulate(v)
        return g.spikes(x) if isinstance(g, SpikingNeuron) else self.lift(g(x))

    def row_max(self, neuron: nn.Module, v: Tensor, keep: Tensor | None = None) -> Tensor:
        """M13 on the neuron's train: each row's first survivor's accumulated code, ``[..., 1]``."""
        x = self.accumulate(v)
        if not isinstance(neuron, SpikingNeuron):
            return FastSim().row_max(neuron, x, keep)
        train = neuron.spikes(x)  # its own length: binary even in a NAF model (M13 needs bits)
        valid = torch.ones_like(x, dtype=torch.bool) if keep is None else keep.expand(x.shape)
        survivors, _ = eliminate(train != 0, (train > 0).any(0), valid)
        return survivor_value(self.accumulate(train), survivors)


def _padded(train: Tensor, steps: int) -> Tensor:
    """``train`` followed by silent steps up to ``steps``."""
    if train.shape[0] == steps:
        return train
    silent = train.new_zeros((steps - train.shape[0], *train.shape[1:]))
    return torch.cat([train, silent])


def _difference(cumulative: Tensor) -> Tensor:
    """``O(t) = C(t) - C(t-1)`` with ``C(0) = 0`` along dim 0."""
    out = cumulative.clone()
    out[1:] -= cumulative[:-1]
    return out


Sim = FastSim | SpikeSim


def make_sim(mode: Mode | str, T: int) -> Sim:
    """The backend for ``mode`` (``T`` steps in spike mode)."""
    return FastSim() if Mode.parse(mode) is Mode.FAST else SpikeSim(T)
