"""The spike-driven row maximum (METHOD.md M13): exact on the codes, both modes equal, counted."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from las.neurons import MTNeuron
from las.ops import FastSim, SpikeSim
from las.ops.maximum import code_steps, eliminate

T = 6


def codes(seed: int, rows: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, sign) with many ties, zeros and all-negative rows."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randint(0, 2**T, (rows, n), generator=gen) // torch.randint(
        1, 9, (rows, 1), generator=gen
    )
    sign = torch.where(torch.rand(rows, n, generator=gen) < 0.5, -1, 1)
    sign[: rows // 2] = -1  # rows without a positive code
    return q, sign


def reference_count(q: list[int], sign: list[int], valid: list[bool]) -> tuple[int, int]:
    """(max value, comparisons) of one row by the literal rule of M13, element by element."""
    members = [i for i in range(len(q)) if valid[i]]
    if not members:
        return 0, 0
    upper = any(sign[i] > 0 and q[i] > 0 for i in members)
    candidates = [i for i in members if (sign[i] > 0 and q[i] > 0) == upper]
    comparisons = 0
    for t in range(1, T + 1):
        fired = {i for i in candidates if (q[i] >> (T - t)) & 1}
        if fired:
            comparisons += len(candidates)
        preferred = [i for i in candidates if (i in fired) == upper]
        candidates = preferred or candidates
    survivor = candidates[0]
    return sign[survivor] * q[survivor] if q[survivor] else 0, comparisons


@given(seed=st.integers(0, 2**31 - 1))
def test_elimination_finds_the_maximum_code_with_the_counted_comparisons(seed):
    q, sign = codes(seed, 6, 9)
    valid = torch.rand(6, 9, generator=torch.Generator().manual_seed(seed)) < 0.8
    survivors, comparisons = eliminate(code_steps(q, T), (sign > 0) & (q > 0), valid)
    for row in range(6):
        value, count = reference_count(q[row].tolist(), sign[row].tolist(), valid[row].tolist())
        members = (sign[row] * q[row])[survivors[row]]
        assert torch.all(members == value) and int(comparisons[row]) == count
        if valid[row].any():
            assert value == int((sign[row] * q[row])[valid[row]].max())


@pytest.mark.parametrize("masked", [False, True])
def test_spike_mode_equals_fast_mode_bit_for_bit(masked):
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 3, 7, 7, generator=gen, dtype=torch.float64) * 3
    scores[1, 0] = -scores[1, 0].abs()  # negative rows
    scores[0, 1, 2, :3] = 5.0  # ties
    keep = torch.ones(7, 7, dtype=torch.bool).tril() if masked else None
    if masked:
        keep = keep.expand(2, 3, 7, 7).clone()
        keep[1, 2, :2] = False  # fully masked rows: reference 0
    neuron = MTNeuron(16.0, T=T)
    fast = FastSim().row_max(neuron, scores, keep)
    spike = SpikeSim(T).row_max(neuron, SpikeSim(T).lift(scores), keep)
    assert fast.shape == (2, 3, 7, 1)
    assert torch.equal(spike, fast)
    codes_ = neuron(scores)
    if masked:
        codes_ = codes_.masked_fill(~keep, float("-inf"))
        assert torch.equal(fast[1, 2, :2], torch.zeros(2, 1, dtype=torch.float64))
    assert torch.all(
        (fast == codes_.amax(-1, keepdim=True)) | ~torch.isfinite(codes_.amax(-1, keepdim=True))
    )


def test_a_float_site_takes_the_float_maximum():
    scores = torch.randn(4, 5, dtype=torch.float64)
    for sim, value in ((FastSim(), scores), (SpikeSim(T), SpikeSim(T).lift(scores))):
        assert torch.equal(sim.row_max(nn.Identity(), value), scores.amax(-1, keepdim=True))
