"""Streaming statistics (METHOD.md M7) against brute force."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from las.calibration.stats import Reservoir, SiteStats, bin_upper_edges, histogram_bins


@given(seed=st.integers(0, 2**31 - 1), chunks=st.integers(1, 5))
def test_streaming_equals_brute_force(seed, chunks):
    gen = torch.Generator().manual_seed(seed)
    data = torch.randn(chunks, 7, 5, generator=gen, dtype=torch.float64) * 3
    data[0, 0, 0] = 0.0
    stats = SiteStats()
    for chunk in data:
        stats.update(chunk.float(), per_channel=True)
    flat = data.float().double().reshape(-1)
    assert stats.count == flat.numel()
    assert stats.minimum == float(flat.min()) and stats.maximum == float(flat.max())
    assert stats.absmax == float(flat.abs().max())
    assert abs(stats.mean - float(flat.mean())) < 1e-12
    edges = bin_upper_edges()
    lower = torch.cat([torch.zeros(1, dtype=torch.float64), edges[:-1]])
    brute = torch.tensor(
        [
            int(((flat.abs() > lo) & (flat.abs() <= hi)).sum())
            for lo, hi in zip(lower, edges, strict=False)
        ]
    )
    brute[0] += int((flat == 0).sum())
    assert torch.equal(stats.hist, brute)
    rows = data.float().double().reshape(-1, 5)
    assert torch.equal(stats.channel_max, rows.amax(0)) and torch.equal(
        stats.channel_min, rows.amin(0)
    )


def test_quantile_is_an_upper_bound_within_one_bin():
    x = torch.rand(100_000, generator=torch.Generator().manual_seed(0)) * 10
    stats = SiteStats()
    stats.update(x)
    for q in (0.5, 0.9, 0.99):
        exact = float(torch.quantile(x.double(), q))
        assert exact <= stats.quantile(q) <= exact * 2 ** (1 / 8) * 1.0001


def test_bins_bracket_their_values():
    x = torch.tensor([3e-12, 0.3, 1.0, 2.0, 7.5e5], dtype=torch.float64)
    idx = histogram_bins(x)
    edges = bin_upper_edges()
    assert bool((idx > 0).all())
    assert bool((x <= edges[idx]).all()) and bool((x > edges[idx - 1]).all())
    assert int(histogram_bins(torch.tensor([1e-15, 0.0], dtype=torch.float64)).max()) == 0


def test_memory_does_not_grow_with_tokens():
    stats = SiteStats()
    for _ in range(20):
        stats.update(torch.randn(4096))
    assert stats.hist.numel() == bin_upper_edges().numel() and stats.count == 20 * 4096


def test_reservoir_is_bounded_and_roughly_uniform():
    reservoir = Reservoir(size=2000)
    for start in range(0, 100_000, 10_000):
        reservoir.update(torch.arange(start, start + 10_000, dtype=torch.float64))
    assert reservoir.values.numel() == 2000
    assert 40_000 < float(reservoir.values.mean()) < 60_000


def test_reservoir_keeps_the_bottom_k_of_every_key_offered():
    """The prefiltered update keeps exactly the stable first ``size`` of all keys ever offered."""
    reservoir, offered = Reservoir(size=500, seed=3), []
    keys = torch.Generator().manual_seed(3)
    for n in (300, 100, 2000, 7, 5000):
        x = torch.randn(n, dtype=torch.float64)
        offered.append((torch.rand(n, generator=keys, dtype=torch.float64), x))
        reservoir.update(x)
    all_keys = torch.cat([k for k, _ in offered])
    all_values = torch.cat([v for _, v in offered])
    keep = torch.argsort(all_keys, stable=True)[:500]
    assert torch.equal(reservoir.keys, all_keys[keep])
    assert torch.equal(reservoir.values, all_values[keep])
