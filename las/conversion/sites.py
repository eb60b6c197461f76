"""Neuron sites: what sits at each insertion point of a converted model, and who makes it.

A *site* is a dotted name (``<module path>.<role name>``, e.g.
``model.layers.0.self_attn.q_proj.input``) with a :class:`Role`. The converter asks a
:class:`NeuronFactory` for the module at every site: calibration passes observers (which record
statistics and compute the exact float function), conversion passes calibrated neurons. One
builder, two factories: the collected statistics are those of exactly the tensors the neurons
will see.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from torch import nn


class Kind(StrEnum):
    """What kind of neuron a site holds."""

    OAT = "oat"  # an activation entering a linear map or spike product (M2)
    PROBABILITY = "probability"  # softmax output, MT with tau = 1 (M5)
    HG = "hg"  # a nonlinearity (M4)
    # attention scores read by the spiking row max: MT, one calibrated threshold per site, so
    # that every code of a row has the same step weights (M13)
    SCORE = "score"


@dataclass(frozen=True)
class Role:
    """A site's kind and, for HG sites, the function name (``las.fitting.FUNCTIONS``)."""

    kind: Kind
    fn: str | None = None


#: Kinds whose neurons take calibrated thresholds (M7): OAT's pair; a score site's ``theta_out``.
THRESHOLD_KINDS = frozenset({Kind.OAT, Kind.SCORE})

OAT = Role(Kind.OAT)
PROBABILITY = Role(Kind.PROBABILITY)
SCORE = Role(Kind.SCORE)


def hg(fn: str) -> Role:
    """The role of an HG site approximating ``fn``."""
    return Role(Kind.HG, fn)


class NeuronFactory(Protocol):
    """Makes the module placed at a site; ``T`` is the number of time steps of the model."""

    T: int

    def __call__(self, site: str, role: Role) -> nn.Module: ...
