"""Fit, save and load a bank of HG neurons, one per nonlinearity (METHOD.md M4).

The bank is stored as one safetensors file (``<function>.edges``, ``.delta``, ``.offset``) with
its settings (``K``, symmetry) in the safetensors metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from las.fitting import HGFitReport, fit_hg
from las.neurons import HGNeuron


@dataclass(frozen=True)
class HGSpec:
    """What to fit for one function: its input range."""

    low: float
    high: float


def fit_bank(
    specs: Mapping[str, HGSpec],
    K: int = 16,
    tolerance: float | None = None,
    max_segments: int = 1 << 14,
) -> tuple[dict[str, HGNeuron], pd.DataFrame]:
    """Fit every function of ``specs``; return the neurons and one error-table row per function."""
    neurons, rows = {}, []
    for name, spec in tqdm(specs.items(), desc="fit_hg", unit="fn"):
        neuron, report = fit_hg(name, spec.low, spec.high, K, tolerance, max_segments)
        neurons[name] = neuron
        rows.append(report.as_dict())
    return neurons, pd.DataFrame(rows, columns=[*HGFitReport.__dataclass_fields__, "met"])


def save_bank(neurons: Mapping[str, HGNeuron], path: Path, metadata: Mapping[str, str]) -> None:
    """Write ``neurons`` to ``path`` (safetensors) with string ``metadata`` (e.g. config hash)."""
    tensors, meta = {}, dict(metadata)
    for name, neuron in neurons.items():
        for field in ("edges", "delta", "offset"):
            tensors[f"{name}.{field}"] = getattr(neuron, field).contiguous()
        meta[f"{name}.K"], meta[f"{name}.symmetry"] = str(neuron.K), neuron.symmetry
    save_file(tensors, str(path), metadata=meta)


def load_bank(path: Path) -> dict[str, HGNeuron]:
    """Read a bank written by :func:`save_bank`; raise ``FileNotFoundError`` naming the stage."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no HG bank at {path}: run the stage `python -m las.fit_hg`")
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    tensors = load_file(str(path))
    names = sorted({key.rsplit(".", 1)[0] for key in tensors})
    return {
        name: HGNeuron(
            tensors[f"{name}.edges"],
            tensors[f"{name}.delta"],
            tensors[f"{name}.offset"],
            K=int(meta[f"{name}.K"]),
            symmetry=meta[f"{name}.symmetry"],
            name=name,
        )
        for name in names
    }
