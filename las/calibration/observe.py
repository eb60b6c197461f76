"""Observers: the modules placed at every site while collecting statistics (METHOD.md M7).

An observer records its input and returns what the float model computes there (the identity for
OAT/MT sites, the exact nonlinearity for HG sites), so a model built with observers computes the
original network while streaming the statistics of exactly the tensors each neuron will see.
Each observer keys its reservoir samples with a generator seeded by its site name, so the samples
do not depend on the order in which sites run (whole model or layer by layer, M7).
"""

from __future__ import annotations

import zlib

import torch
from torch import Tensor, nn

from las.calibration.stats import Reservoir, SiteStats
from las.conversion.sites import Kind, Role
from las.fitting import target_function
from las.neurons.base import check_finite


class Observer(nn.Module):
    """Records the statistics of its input, returns the float value the site computes.

    ``recording``: set False, the observer only computes (a layer-by-layer run's last pass
    through sites already observed, :mod:`las.calibration.sequential`).
    """

    def __init__(
        self,
        site: str,
        role: Role,
        stats: SiteStats,
        reservoir: Reservoir | None,
        per_channel: bool,
    ) -> None:
        super().__init__()
        self.site, self.role, self.stats = site, role, stats
        self.reservoir, self.per_channel = reservoir, per_channel
        self.fn = target_function(role.fn).fn if role.kind is Kind.HG else None
        self.keys = torch.Generator().manual_seed(zlib.crc32(site.encode()))
        self.recording = True

    def forward(self, x: Tensor) -> Tensor:
        if self.recording:
            check_finite(x, self.site)
            self.stats.update(x, self.per_channel and self.role.kind is Kind.OAT)
            if self.reservoir is not None:
                self.reservoir.update(x, self.keys)
        return x if self.fn is None else self.fn(x)


class ObserverFactory:
    """A :class:`las.conversion.sites.NeuronFactory` that places observers and keeps their stats.

    ``stats`` maps site -> :class:`SiteStats`; ``roles`` site -> :class:`Role`; ``samples`` maps
    each HG function to a reservoir of its inputs over all sites (for error tables on real data).
    """

    T = 1

    def __init__(self, per_channel: bool = False, reservoir_size: int = 1 << 15) -> None:
        self.per_channel = per_channel
        self.reservoir_size = reservoir_size
        self.stats: dict[str, SiteStats] = {}
        self.roles: dict[str, Role] = {}
        self.samples: dict[str, Reservoir] = {}

    def __call__(self, site: str, role: Role) -> nn.Module:
        self.stats[site], self.roles[site] = SiteStats(), role
        reservoir = None
        if role.kind is Kind.HG:
            reservoir = self.samples.setdefault(role.fn, Reservoir(self.reservoir_size))
        return Observer(site, role, self.stats[site], reservoir, self.per_channel)
