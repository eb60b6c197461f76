"""Streaming per-site statistics (METHOD.md M7): bounded memory, mergeable, no stored activations.

Per site: count, sum, min, max, abs-max and a histogram of ``|x|`` on fixed log-spaced bins
(``BINS_PER_OCTAVE`` bins per power of two between ``2**MIN_EXP`` and ``2**MAX_EXP``, plus one bin
for smaller magnitudes and zero). Optionally per channel (last dim): count, min, max, abs-max.
Memory per site is ``O(bins + channels)`` whatever the number of calibration tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

BINS_PER_OCTAVE = 8
MIN_EXP, MAX_EXP = -40, 40
N_BINS = (MAX_EXP - MIN_EXP) * BINS_PER_OCTAVE + 1


def bin_upper_edges() -> Tensor:
    """Upper edge of every histogram bin (float64 ``[N_BINS]``); bin 0: ``|x| <= 2**MIN_EXP``."""
    k = torch.arange(N_BINS, dtype=torch.float64)
    return 2.0 ** (MIN_EXP + k / BINS_PER_OCTAVE)


def histogram_bins(magnitude: Tensor) -> Tensor:
    """Bin index (int64) of each ``|x|`` value (float64 input)."""
    log = torch.log2(magnitude.clamp_min(2.0**MIN_EXP * 0.5))
    idx = torch.ceil((log - MIN_EXP) * BINS_PER_OCTAVE).long()
    return idx.clamp(0, N_BINS - 1)


@dataclass
class SiteStats:
    """Running statistics of one site (float64 sums, int64 counts)."""

    count: int = 0
    total: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")
    hist: Tensor = field(default_factory=lambda: torch.zeros(N_BINS, dtype=torch.int64))
    channel_min: Tensor | None = None
    channel_max: Tensor | None = None

    @property
    def absmax(self) -> float:
        """Largest ``|x|`` seen (0 before any update)."""
        return max(abs(self.minimum), abs(self.maximum)) if self.count else 0.0

    @property
    def mean(self) -> float:
        """Mean of the values seen (NaN before any update)."""
        return self.total / self.count if self.count else float("nan")

    def update(self, x: Tensor, per_channel: bool = False) -> None:
        """Fold the values of ``x`` (any shape and dtype, finite) into the statistics."""
        v = x.detach().double()
        flat = v.reshape(-1)
        if flat.numel() == 0:
            return
        self.count += flat.numel()
        self.total += float(flat.sum())
        self.minimum = min(self.minimum, float(flat.min()))
        self.maximum = max(self.maximum, float(flat.max()))
        self.hist += torch.bincount(histogram_bins(flat.abs()), minlength=N_BINS).cpu()
        if per_channel and v.ndim >= 1:
            rows = v.reshape(-1, v.shape[-1])
            lo, hi = rows.amin(0).cpu(), rows.amax(0).cpu()
            if self.channel_min is None:
                self.channel_min, self.channel_max = lo, hi
            else:
                self.channel_min = torch.minimum(self.channel_min, lo)
                self.channel_max = torch.maximum(self.channel_max, hi)

    def quantile(self, q: float) -> float:
        """Upper bin edge at which the cumulative share of ``|x|`` reaches ``q`` (conservative)."""
        if not self.count:
            raise ValueError("quantile of a site that saw no values")
        cum = self.hist.cumsum(0).double() / self.count
        idx = int(
            torch.searchsorted(cum, torch.tensor([q], dtype=torch.float64)).clamp(max=N_BINS - 1)
        )
        return min(float(bin_upper_edges()[idx]), self.absmax)

    def to_tensors(self, prefix: str) -> dict[str, Tensor]:
        """Flat tensor dict (for safetensors) under ``prefix``."""
        out = {
            f"{prefix}.scalars": torch.tensor(
                [self.count, self.total, self.minimum, self.maximum], dtype=torch.float64
            ),
            f"{prefix}.hist": self.hist,
        }
        if self.channel_min is not None:
            out[f"{prefix}.channel_min"], out[f"{prefix}.channel_max"] = (
                self.channel_min,
                self.channel_max,
            )
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], prefix: str) -> SiteStats:
        """Inverse of :meth:`to_tensors`."""
        count, total, minimum, maximum = tensors[f"{prefix}.scalars"].tolist()
        return cls(
            int(count),
            total,
            minimum,
            maximum,
            tensors[f"{prefix}.hist"].long(),
            tensors.get(f"{prefix}.channel_min"),
            tensors.get(f"{prefix}.channel_max"),
        )


class Reservoir:
    """A uniform random sample of at most ``size`` values from a stream (bottom-k sketch).

    Every value offered gets a random key; the reservoir keeps the ``size`` values of smallest
    key, in key order. The kept set is the bottom-k of all keys offered, whatever the order of
    the updates, so several streams can feed one reservoir in any interleaving: given each
    stream's own key ``generator`` (one per site, :class:`las.calibration.observe.Observer`),
    the sample is the same whether a model runs whole or one layer at a time.
    """

    def __init__(self, size: int = 1 << 15, seed: int = 0) -> None:
        self.size = size
        self.generator = torch.Generator().manual_seed(seed)
        self.keys = torch.empty(0, dtype=torch.float64)
        self.values = torch.empty(0, dtype=torch.float64)

    def update(self, x: Tensor, generator: torch.Generator | None = None) -> None:
        """Offer every value of ``x``, keyed by ``generator`` (default: the reservoir's own).

        The result is the first ``size`` of the stable key order of the kept values followed by
        the offered ones. Once the reservoir is full, an offered key at or above its largest kept
        key cannot be among them (the kept values precede it), so only the smaller keys are sorted
        with the kept ones: the same sample, for a sort over about ``size`` values per update
        instead of all of them.
        """
        values = x.detach().double().reshape(-1).cpu()
        keys = torch.rand(
            values.numel(), generator=generator or self.generator, dtype=torch.float64
        )
        if self.keys.numel() == self.size:
            entering = keys < self.keys[-1]
            keys, values = keys[entering], values[entering]
        keys, values = torch.cat([self.keys, keys]), torch.cat([self.values, values])
        keep = torch.argsort(keys, stable=True)[: self.size]
        self.keys, self.values = keys[keep], values[keep]
