"""IF neuron with soft reset and rate code, for FAS and the naive baseline (METHOD.md M9, M10)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from las.modes import Mode
from las.neurons.base import SpikingNeuron, ThresholdLike, as_threshold, threshold_for

#: Input currents are expressed in units of theta on this dyadic grid, which keeps every membrane
#: potential exactly representable in float64 (see :class:`IFNeuron`).
CURRENT_GRID = 2.0**-40


class IFState(NamedTuple):
    """Membrane potential and constant input current, in units of theta; spike weight."""

    v: Tensor
    current: Tensor
    weight: Tensor


class IFNeuron(SpikingNeuron):
    """Integrate-and-fire neuron, soft reset, rate code (M9), driven by a constant current ``x``.

    ``m(t) = v(t-1) + x``, ``s(t) = [m(t) >= theta]``, ``v(t) = m(t) - theta s(t)``,
    ``v(0) = theta/2``. The output is the mean over ``T`` of ``theta s(t)``: the train emits
    ``theta/T`` (rounded to float32) per spike. Closed form for a constant current:
    ``n = clamp(floor(1/2 + T x/theta), 0, T)`` spikes, output ``n theta / T``.

    Potentials are tracked in units of ``theta`` with the current ``x/theta`` clamped to
    ``[-1, 1]`` (which changes no spike: below 0 nothing fires, above 1 every step fires) and
    rounded to the grid ``2**-40``; every potential is then exact in float64, so both modes agree
    bit for bit.
    """

    def __init__(
        self,
        theta: ThresholdLike,
        T: int = 8,
        site: str | None = None,
        mode: Mode | str = Mode.FAST,
    ) -> None:
        super().__init__(T, site, mode)
        self.register_buffer("theta", as_threshold(theta, "theta"))

    def init_state(self, x: Tensor) -> IFState:
        theta = threshold_for(self.theta, x, "theta")
        current = torch.round((x.double() / theta).clamp(-1.0, 1.0) / CURRENT_GRID) * CURRENT_GRID
        weight = (theta / self.T).float().double().expand(x.shape)
        return IFState(torch.full_like(current, 0.5), current, weight)

    def step(self, state: IFState, t: int) -> tuple[Tensor, Tensor, IFState]:
        m = state.v + state.current
        fired = m >= 1.0
        return state.weight * fired, fired, state._replace(v=m - fired.double())

    def closed_form(self, x: Tensor, count: bool = False) -> tuple[Tensor, Tensor | None]:
        state = self.init_state(x)
        n = torch.floor(0.5 + self.T * state.current).clamp(0, self.T)
        return state.weight * n, n.long() if count else None
