"""Exact spike counting and energy accounting (METHOD.md M8)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from las.lazy import exports

if TYPE_CHECKING:
    from las.energy.config import EnergyConfig
    from las.energy.counting import SiteCount, count_spikes
    from las.energy.figures import plot_layers
    from las.energy.report import energy_ratio, site_table, summarise
    from las.energy.sweep import threshold_sweep

__all__ = [
    "EnergyConfig",
    "SiteCount",
    "count_spikes",
    "energy_ratio",
    "plot_layers",
    "site_table",
    "summarise",
    "threshold_sweep",
]

__getattr__, __dir__ = exports(
    __name__,
    {
        "EnergyConfig": "las.energy.config",
        "SiteCount": "las.energy.counting",
        "count_spikes": "las.energy.counting",
        "energy_ratio": "las.energy.report",
        "plot_layers": "las.energy.figures",
        "site_table": "las.energy.report",
        "summarise": "las.energy.report",
        "threshold_sweep": "las.energy.sweep",
    },
)
