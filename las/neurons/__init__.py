"""Spiking neurons (METHOD.md M1-M4, M9, M11), each in ``fast`` and ``spike`` mode (M6)."""

from las.neurons.base import MAX_T, SpikingNeuron, popcount
from las.neurons.fs import FSNeuron
from las.neurons.hg import HGNeuron
from las.neurons.integrate_fire import IFNeuron
from las.neurons.mt import MTNeuron
from las.neurons.oat import OATNeuron

__all__ = [
    "MAX_T",
    "FSNeuron",
    "HGNeuron",
    "IFNeuron",
    "MTNeuron",
    "OATNeuron",
    "SpikingNeuron",
    "popcount",
]
