"""Typed configs of the evaluation groups ``method`` and ``task`` (their ``conf/`` folders)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from las.config import Bool, Fraction, Name, PositiveInt, Str, typed
from las.evaluation.methods import METHODS


@typed
class MethodConfig:
    """The conversion method (a name of :data:`las.evaluation.methods.METHODS`).

    ``percentile``: the naive baseline's threshold quantile of ``|x|`` (M10), required for
    ``naive`` and refused for the other methods (which would ignore it).
    """

    name: Name
    percentile: Fraction | None = None

    def __post_init__(self) -> None:
        if self.name not in METHODS:
            raise ValueError(f"unknown method {self.name!r}; available: {', '.join(METHODS)}")
        if (self.name == "naive") != (self.percentile is not None):
            raise ValueError("percentile is the naive method's setting: give it for naive only")


@typed
class TaskConfig:
    """An lm-eval task set.

    Attributes:
        name: the set's name (results folder, tables).
        tasks: lm-eval task names (at least one).
        limit: items per task (> 0), or None for every item.
        include_defaults: also index the harness's built-in tasks (lm-eval: ~18 s; network for
            their data).
        harness: ``lm_eval`` (lm-eval, this environment) or ``lmms_eval`` (lmms-eval's tasks and
            ``las`` models, its own environment: README "Evaluating VLMs with lmms-eval").
    """

    name: Name
    tasks: Annotated[list[Str], Field(min_length=1)]
    limit: PositiveInt | None
    include_defaults: Bool
    harness: Literal["lm_eval", "lmms_eval"] = "lm_eval"
