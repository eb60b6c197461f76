"""Exact spike counting and energy accounting (METHOD.md M8)."""

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
