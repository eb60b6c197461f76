"""Spike-equivalent transformer operators (METHOD.md M5) in both simulation modes (M6)."""

from las.ops.backend import FastSim, SpikeSim, make_sim
from las.ops.modules import (
    SpikingAttentionCore,
    SpikingFFN,
    SpikingLayerNorm,
    SpikingLinear,
    SpikingOp,
    SpikingRMSNorm,
    set_mode,
)

__all__ = [
    "FastSim",
    "SpikeSim",
    "SpikingAttentionCore",
    "SpikingFFN",
    "SpikingLayerNorm",
    "SpikingLinear",
    "SpikingOp",
    "SpikingRMSNorm",
    "make_sim",
    "set_mode",
]
