"""Exact spike counts per site from a converted model's forward (METHOD.md M1, M6, M8).

Counts come from each neuron's closed form (``neuron.count``: popcount of its codes), so they are
exact in ``fast`` mode; no spike train is materialised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from las.neurons.base import SpikingNeuron


@dataclass
class SiteCount:
    """Running totals of one neuron site.

    Attributes:
        kind: the neuron class name (``OATNeuron``, ``MTNeuron``, ``HGNeuron``).
        steps: time steps of the neuron (``T``, or ``K`` for HG).
        neurons: neuron evaluations (elements) seen.
        spikes: spikes fired.
    """

    kind: str
    steps: int
    neurons: int = 0
    spikes: int = 0

    @property
    def firing_rate(self) -> float:
        """Spikes per neuron per time step (M8)."""
        return self.spikes / (self.neurons * self.steps) if self.neurons else 0.0


@contextmanager
def count_spikes(model: nn.Module) -> Iterator[dict[str, SiteCount]]:
    """Within the block, every forward of ``model`` adds its exact spike counts per site.

    Yields a dict site -> :class:`SiteCount` (keyed by ``neuron.site``, or the module path for
    unnamed neurons). Hooks are removed on exit, also after an exception.
    """
    counts: dict[str, SiteCount] = {}
    handles = []
    for path, module in model.named_modules():
        if isinstance(module, SpikingNeuron):
            key = module.site or path
            counts[key] = SiteCount(type(module).__name__, module.T)
            handles.append(module.register_forward_hook(_hook(counts[key])))
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()


def _hook(total: SiteCount):
    def record(module: SpikingNeuron, args: tuple, output: torch.Tensor) -> None:
        x = args[0]
        with torch.no_grad():
            total.spikes += int(module.count(x).sum())
        total.neurons += x.numel()

    return record
