"""FS neuron: few spikes with per-step reset, weight and threshold (METHOD.md M3)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from las.modes import Mode
from las.neurons.base import SpikingNeuron


class FSState(NamedTuple):
    """Membrane potential (float64) and the step parameters, each ``[K, *shape]`` or ``[K]``."""

    v: Tensor
    h: Tensor
    d: Tensor
    th: Tensor
    b: Tensor


def fs_step(state: FSState, t: int) -> tuple[Tensor, Tensor, FSState]:
    """One step of M3: ``z = v >= th(t)``, ``v -= h(t) z``, emit ``d(t) z`` (and ``-b`` at t=1)."""
    i = t - 1
    fired = state.v >= state.th[i]
    out = state.d[i] * fired
    if t == 1:
        out = out - state.b
    return out, fired, state._replace(v=state.v - state.h[i] * fired)


class FSNeuron(SpikingNeuron):
    """Few-spike neuron (M3) with K steps: ``y = sum_t d(t) z(t) - b``.

    Args:
        h, d, th: per-step reset, output weight and threshold, each of shape ``[K]``.
        b: output offset (scalar).

    The train emits ``d(t) z(t)`` at step ``t`` and the offset ``-b`` at step 1, so it sums to
    ``y``. FS has no closed form beyond its recurrence: ``FAST`` mode runs the same K steps without
    storing the train. All arithmetic in float64.
    """

    def __init__(
        self,
        h: Tensor,
        d: Tensor,
        th: Tensor,
        b: float = 0.0,
        site: str | None = None,
        mode: Mode | str = Mode.FAST,
    ) -> None:
        params = [torch.as_tensor(p, dtype=torch.float64) for p in (h, d, th)]
        if any(p.ndim != 1 or p.shape != params[0].shape for p in params):
            shapes = [tuple(p.shape) for p in params]
            raise ValueError(f"h, d, th must be 1-d tensors of equal length K, got {shapes}")
        super().__init__(params[0].numel(), site, mode)
        for name, p in zip(("h", "d", "th"), params, strict=True):
            self.register_buffer(name, p)
        self.register_buffer("b", torch.tensor(float(b), dtype=torch.float64))

    def init_state(self, x: Tensor) -> FSState:
        return FSState(x.double(), self.h, self.d, self.th, self.b)

    def step(self, state: FSState, t: int, fired: bool = True) -> tuple[Tensor, Tensor, FSState]:
        return fs_step(state, t)  # the mask is the step itself: returned whether asked or not

    def closed_form(self, x: Tensor, count: bool = False) -> tuple[Tensor, Tensor | None]:
        state = self.init_state(x)
        value = torch.zeros(x.shape, dtype=torch.float64, device=x.device)
        spikes = torch.zeros(x.shape, dtype=torch.int64, device=x.device)
        for t in range(1, self.T + 1):
            out, fired, state = fs_step(state, t)
            value += out
            spikes += fired
        return value, spikes if count else None
