"""Simulation modes of every spiking layer (METHOD.md M6)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator


class ParsedEnum(StrEnum):
    """A string enum whose :meth:`parse` names the valid values when given an unknown one."""

    @classmethod
    def noun(cls) -> str:
        """What a value is called in error messages."""
        return "mode"

    @classmethod
    def parse(cls, value: str) -> ParsedEnum:
        """Return ``value`` as a member; raise ``ValueError`` naming the valid values."""
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError as err:
            valid = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown {cls.noun()} {value!r}; valid: {valid}") from err


class Mode(ParsedEnum):
    """How a neuron or operator is evaluated.

    ``FAST`` evaluates closed forms in one pass (what evaluation uses); ``SPIKE`` simulates every
    neuron over its time steps and every operator per step (what proves the equivalence).
    """

    FAST = "fast"
    SPIKE = "spike"


ModeField = Annotated[Mode, BeforeValidator(Mode.parse)]
"""A :class:`Mode` field of a typed config: given as ``"fast"``/``"spike"`` or a member."""
