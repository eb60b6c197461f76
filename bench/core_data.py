"""The inputs of ``bench_core``: run sizes, the shared tensors and the neurons built from them.

Everything is made from the fixed seed :data:`SEED`, so the parent run and each memory child
(``bench_core.py --memory-case``) see the same ``X``, ``W`` and thresholds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from las.neurons import OATNeuron
from las.ops import SpikingLinear, set_mode

SEED = 0
#: Functions METHOD.md M4 needs, fitted on the default ranges of the registry (``fit_hg_neuron``).
HG_FUNCTIONS = ("exp", "gelu", "silu", "reciprocal", "rsqrt", "square")
MEMORY_CASES = (
    "float",
    "fast",
    "spike",
    "spike_accumulate",
    "oat_fast",
    "oat_spikes",
    "peer_oat",
    "peer_oat_train",
)


@dataclass(frozen=True)
class Config:
    """Sizes and repeat counts of one run."""

    n: int = 2048
    T: int = 16
    outlier_cols: int = 8
    repeats: int = 7
    slow_repeats: int = 3
    grid_points: int = 1 << 20
    hg_functions: tuple[str, ...] = HG_FUNCTIONS
    hg_tolerance: float | None = None
    memory_cases: tuple[str, ...] = MEMORY_CASES

    @property
    def train_bytes(self) -> int:
        """Bytes of one float32 T-step train of ``X``: the memory unit of the report."""
        return self.T * self.n * self.n * 4


FULL = Config()
QUICK = Config(
    n=256,
    outlier_cols=1,
    repeats=3,
    slow_repeats=2,
    grid_points=1 << 14,
    hg_functions=("exp", "gelu"),
    hg_tolerance=1e-3,
    memory_cases=("spike",),
)


@dataclass
class Data:
    """The shared tensors and the thresholds calibrated from ``X``."""

    X: Tensor
    W: Tensor
    theta_nor: float
    theta_out: float
    T: int
    outlier_fraction: float = field(default=0.0)
    boundary_count: int = field(default=0)

    @property
    def unit(self) -> float:
        """The normal resolution ``theta_nor / 2**T``: the unit of the OAT errors."""
        return self.theta_nor / 2.0**self.T

    def summary(self) -> dict[str, float]:
        """The thresholds and outlier statistics, as the report's ``data`` entry."""
        return {
            "theta_nor": self.theta_nor,
            "theta_out": self.theta_out,
            "unit": self.unit,
            "outlier_fraction": self.outlier_fraction,
            "boundary_count": self.boundary_count,
        }


def make_data(cfg: Config) -> Data:
    """``X`` (normal, ``outlier_cols`` columns x20), ``W`` (normal / sqrt(n)) and thresholds.

    ``theta_out = absmax * 1.01``; ``theta_nor`` = 0.99 quantile of ``|X|`` on a subsample of at
    most 2**20 elements (``torch.quantile`` limits its input size).
    """
    gen = torch.Generator().manual_seed(SEED)
    X = torch.randn(cfg.n, cfg.n, generator=gen)
    cols = torch.randperm(cfg.n, generator=gen)[: cfg.outlier_cols]
    X[:, cols] *= 20.0
    W = torch.randn(cfg.n, cfg.n, generator=gen) / math.sqrt(cfg.n)
    magnitude = X.abs().flatten()
    size = (min(magnitude.numel(), 1 << 20),)
    sample = magnitude[torch.randint(0, magnitude.numel(), size, generator=gen)]
    theta_nor = float(torch.quantile(sample, 0.99))
    theta_out = float(magnitude.max()) * 1.01
    data = Data(X, W, theta_nor, theta_out, cfg.T)
    data.outlier_fraction = float((magnitude >= theta_nor).double().mean())
    data.boundary_count = int((magnitude == theta_nor).sum())
    return data


def make_oat(data: Data, mode: str = "fast") -> OATNeuron:
    """An OAT neuron with the data's thresholds."""
    return OATNeuron(data.theta_nor, data.theta_out, T=data.T, mode=mode)


def make_linear(data: Data, mode: str) -> SpikingLinear:
    """``SpikingLinear(W)`` with an OAT input neuron, in ``mode``."""
    module = SpikingLinear(data.W, None, {"input": make_oat(data)}, T=data.T)
    set_mode(module, mode)
    return module
