"""Fit, save and load a bank of HG neurons, one per nonlinearity (METHOD.md M4).

A bank is one ``fit_hg`` artifact (:mod:`las.artifacts`): tensors
``<function>.edges``, ``.delta``, ``.offset``; each neuron's ``K`` and symmetry in its metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import pandas as pd
import torch
from pydantic import Field
from tqdm.auto import tqdm

from las.artifacts import Identity, read_artifact, write_artifact
from las.config import PositiveFloat, PositiveInt, Str, typed
from las.fitting import FUNCTIONS, HGFitReport, fit_hg_neuron, target_function
from las.neurons import HGNeuron


@typed
class HGSpec:
    """What to fit for one function: its input range ``[low, high]``, ``low < high``, finite."""

    low: Annotated[float, Field(strict=True, allow_inf_nan=False)]
    high: Annotated[float, Field(strict=True, allow_inf_nan=False)]

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"HG range needs low < high, got [{self.low}, {self.high}]")


@typed
class HGConfig:
    """The ``hg`` config group (METHOD.md M4).

    Attributes:
        K: steps of each FS sub-neuron.
        tolerance: target maximum error; None: each function's registry tolerance.
        max_segments: cap on the gate segments of one neuron.
        functions: fallback input range per function (used without collected statistics).
    """

    K: PositiveInt
    tolerance: PositiveFloat | None
    max_segments: PositiveInt
    functions: dict[Str, HGSpec]

    def __post_init__(self) -> None:
        if unknown := sorted(set(self.functions) - set(FUNCTIONS)):
            raise ValueError(f"unknown HG functions {unknown}; known: {', '.join(FUNCTIONS)}")


def fit_bank(
    specs: Mapping[str, HGSpec],
    K: int = 16,
    tolerance: float | None = None,
    max_segments: int = 1 << 14,
) -> tuple[dict[str, HGNeuron], pd.DataFrame]:
    """Fit every function of ``specs``; return the neurons and one error-table row per function."""
    neurons, rows = {}, []
    for name, spec in tqdm(specs.items(), desc="fit_hg", unit="fn"):
        neuron, report = fit_hg_neuron(name, spec.low, spec.high, K, tolerance, max_segments)
        neurons[name] = neuron
        rows.append(report.as_dict())
    return neurons, pd.DataFrame(rows, columns=[*HGFitReport.__dataclass_fields__, "met"])


def sample_errors(
    neurons: Mapping[str, HGNeuron], samples: Mapping[str, torch.Tensor]
) -> pd.DataFrame:
    """Errors of each neuron on real inputs (the collected samples of its function).

    Columns: function, n, max_abs, max_rel, mean_abs, clamped (share of samples outside the
    neuron's range).
    """
    rows = []
    for name, neuron in neurons.items():
        x = samples.get(name)
        if x is None or x.numel() == 0:
            continue
        x = x.double()
        exact, approx = target_function(name).fn(x), neuron.closed_form(x)[0]
        err = (approx - exact).abs()
        big = exact.abs() >= 1e-6 * exact.abs().max()
        rows.append(
            {
                "function": name,
                "n": x.numel(),
                "max_abs": float(err.max()),
                "max_rel": float((err[big] / exact.abs()[big]).max()) if big.any() else 0.0,
                "mean_abs": float(err.mean()),
                "clamped": float(neuron.out_of_range(x).double().mean()),
            }
        )
    return pd.DataFrame(
        rows, columns=["function", "n", "max_abs", "max_rel", "mean_abs", "clamped"]
    )


def save_bank(neurons: Mapping[str, HGNeuron], path: Path, identity: Identity) -> None:
    """Write ``neurons`` as a ``fit_hg`` artifact."""
    tensors = {
        f"{name}.{field}": getattr(neuron, field)
        for name, neuron in neurons.items()
        for field in ("edges", "delta", "offset")
    }
    meta = {
        name: {"K": n.K, "symmetry": n.symmetry, "partition": n.partition}
        for name, n in neurons.items()
    }
    write_artifact(path, tensors, identity, meta)


def load_bank(
    path: Path, model_id: str | None = None, revision: str | None = None
) -> tuple[dict[str, HGNeuron], Identity]:
    """Read a bank written by :func:`save_bank` (checking the model identity when given)."""
    tensors, identity, meta = read_artifact(path, "fit_hg", model_id, revision)
    bank = {
        name: HGNeuron(
            tensors[f"{name}.edges"],
            tensors[f"{name}.delta"],
            tensors[f"{name}.offset"],
            K=spec["K"],
            symmetry=spec["symmetry"],
            name=name,
            partition=spec.get("partition"),
        )
        for name, spec in meta.items()
    }
    return bank, identity
