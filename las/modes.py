"""Simulation modes of every spiking layer (METHOD.md M6)."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """How a neuron or operator is evaluated.

    ``FAST`` evaluates closed forms in one pass (what evaluation uses); ``SPIKE`` simulates every
    neuron over its time steps and every operator per step (what proves the equivalence).
    """

    FAST = "fast"
    SPIKE = "spike"

    @classmethod
    def parse(cls, value: Mode | str) -> Mode:
        """Return ``value`` as a :class:`Mode`; raise ``ValueError`` naming the valid modes."""
        try:
            return cls(value)
        except ValueError as err:
            valid = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown mode {value!r}; valid modes: {valid}") from err
