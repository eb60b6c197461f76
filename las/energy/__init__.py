"""Exact spike counting and energy accounting (METHOD.md M8)."""

from las.energy.counting import SiteCount, count_spikes

__all__ = ["SiteCount", "count_spikes"]
