"""A hand-countable spiking linear layer (T = K = 4) shared by the energy tests.

OAT(theta_nor = 1, theta_out = 4): ``|x| < 1`` uses ``tau = 1``, else ``tau = 4`` (clamped below
4); the 4-bit code is ``q = min(floor(|x| 16 / tau), 15)`` and the element fires popcount(q)
spikes (METHOD.md M1, M2).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from las.neurons import HGNeuron, OATNeuron
from las.ops import SpikingLinear

X = torch.tensor([[0.3, -0.9, 2.5, 0.0], [1.0, 0.0625, -3.9, 10.0]])
#: floor(4.8), floor(14.4), floor(10), 0 | 4, 1, floor(15.6), 40 capped at 15.
INPUT_CODES = [4, 14, 10, 0, 4, 1, 15, 15]
#: OAT values [0.25, -0.875, 2.5, 0] and [1, 0.0625, -3.75, 3.75]; W picks three per row, so the
#: linear outputs are [0.25, 2.5, -0.875] and [1, -3.75, 0.0625]. The HG neuron (two unit
#: segments on [0, 2], K = 4) clamps them to [0, 2] and encodes ``floor((y - left edge) * 16)``:
#: 4, 16 capped at 15 (2.0 is the top edge), 0 | 0 (left edge of segment 1), 0, 1.
ACTIVATION_CODES = [4, 15, 0, 0, 0, 1]
WEIGHT = torch.tensor([[1.0, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]])


def popcount(code: int) -> int:
    """Set bits of a non-negative integer: the spikes of its code."""
    return bin(code).count("1")


def hand_linear() -> tuple[nn.Module, Tensor]:
    """(a model holding the layer as ``fc``, its input ``X``)."""
    edges, delta, offset = torch.tensor([0.0, 1.0, 2.0]), torch.full((2,), 1 / 16), torch.ones(2)
    neurons = {"input": OATNeuron(1.0, 4.0, T=4), "activation": HGNeuron(edges, delta, offset, K=4)}
    return nn.ModuleDict({"fc": SpikingLinear(WEIGHT, None, neurons, T=4)}), X
