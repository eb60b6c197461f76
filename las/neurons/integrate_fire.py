"""IF neuron with soft reset and rate code, for FAS and the naive baseline (METHOD.md M9, M10)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from las.modes import Mode
from las.neurons.base import SpikingNeuron, ThresholdLike, as_threshold, threshold_for

#: Input currents and initial potentials are expressed in units of theta on this dyadic grid,
#: which keeps every membrane potential exactly representable in float64 (see :class:`IFNeuron`).
CURRENT_GRID = 2.0**-40
#: Largest initial potential (in units of theta): ``v(0) < theta`` keeps the closed form exact.
MAX_INITIAL = 1.0 - CURRENT_GRID


def as_initial(value: ThresholdLike) -> Tensor:
    """Validate initial potentials (units of theta; scalar or per channel) as float32.

    ``ValueError`` unless every entry is finite and in ``[0, 1)``: a potential at or above
    theta would fire before any input arrived, and the closed form assumes it does not.
    """
    tensor = torch.as_tensor(value, dtype=torch.float32).detach().clone()
    if not torch.isfinite(tensor).all() or (tensor < 0).any() or (tensor >= 1).any():
        raise ValueError(f"initial potential must be in [0, 1) (units of theta), got {value!r}")
    return tensor


class IFState(NamedTuple):
    """Membrane potential and constant input current, in units of theta; signed spike weight."""

    v: Tensor
    current: Tensor
    weight: Tensor


class IFNeuron(SpikingNeuron):
    """Integrate-and-fire neuron, soft reset, rate code (M9), driven by a constant current ``x``.

    ``m(t) = v(t-1) + x``, ``s(t) = [m(t) >= theta]``, ``v(t) = m(t) - theta s(t)``,
    ``v(0) = initial * theta`` (default ``theta/2``; FAS calibrates it per channel, M9). The
    output is the mean over ``T`` of ``theta s(t)``: the train emits ``theta/T`` (rounded to
    float32) per spike. Closed form for a constant current:
    ``n = clamp(floor(initial + T x/theta), 0, T)`` spikes, output ``n theta / T``.

    ``signed`` (the naive baseline, M10, whose sites carry signed activations): a pair of IF
    neurons, one per sign, of which only the one of ``sign(x)`` ever fires; the train emits
    ``sign(x) theta/T`` per spike and ``n`` counts the spikes of both.

    Pipelining (M6): the neuron reads the accumulated input of its producers, so its current is
    constant over the ``T`` steps. Potentials are tracked in units of ``theta`` with the current
    ``x/theta`` clamped to ``[-1, 1]`` (which changes no spike: below 0 nothing fires, above 1
    every step fires) and, like ``initial``, rounded to the grid ``2**-40``; every potential is
    then exact in float64, so both modes agree bit for bit.
    """

    def __init__(
        self,
        theta: ThresholdLike,
        T: int = 8,
        site: str | None = None,
        mode: Mode | str = Mode.FAST,
        initial: ThresholdLike = 0.5,
        signed: bool = False,
    ) -> None:
        super().__init__(T, site, mode)
        self.register_buffer("theta", as_threshold(theta, "theta"))
        self.register_buffer("initial", as_initial(initial))
        self.signed = signed

    def init_state(self, x: Tensor) -> IFState:
        theta = threshold_for(self.theta, x, "theta")
        ratio = x.double() / theta
        sign = torch.sign(ratio) if self.signed else torch.ones_like(ratio)
        ratio = ratio.abs() if self.signed else ratio
        current = torch.round(ratio.clamp(-1.0, 1.0) / CURRENT_GRID) * CURRENT_GRID
        initial = threshold_for(self.initial, x, "initial").clamp(0.0, MAX_INITIAL)
        v = (torch.round(initial / CURRENT_GRID) * CURRENT_GRID).expand(x.shape).clone()
        weight = sign * (theta / self.T).float().double()
        return IFState(v, current, weight)

    def step(self, state: IFState, t: int, fired: bool = True) -> tuple[Tensor, Tensor, IFState]:
        m = state.v + state.current
        spiked = m >= 1.0  # the mask is the step itself: returned whether asked or not
        return state.weight * spiked, spiked, state._replace(v=m - spiked.double())

    def closed_form(self, x: Tensor, count: bool = False) -> tuple[Tensor, Tensor | None]:
        state = self.init_state(x)
        n = torch.floor(state.v + self.T * state.current).clamp(0, self.T)
        return state.weight * n, n.long() if count else None

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, signed={self.signed}"
