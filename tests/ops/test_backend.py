"""Backend primitives (METHOD.md M5): per-step formulas and sum-over-time identities."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from las.fitting import fit_hg_neuron
from las.ops import FastSim, SpikeSim

T = 8
fast = FastSim()


def trains(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(
        T, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


@given(seed=st.integers(0, 2**31 - 1))
def test_linear_sums_to_linear_of_sum(seed):
    x, w, b = trains(seed, 3, 5), torch.randn(4, 5, dtype=torch.float64), torch.randn(4).double()
    out = SpikeSim(T).linear(x, w, b).materialise()
    assert torch.allclose(out.sum(0), fast.linear(x.sum(0), w, b), atol=1e-12)


@given(seed=st.integers(0, 2**31 - 1))
def test_product_follows_the_three_term_step_formula(seed):
    a, b = trains(seed, 3, 4), trains(seed + 1, 4, 2)
    out = SpikeSim(T).product(a, b, torch.matmul).materialise()
    sa, sb = a.cumsum(0), b.cumsum(0)
    zero_a, zero_b = torch.zeros_like(sa[:1]), torch.zeros_like(sb[:1])
    prev_a, prev_b = torch.cat([zero_a, sa[:-1]]), torch.cat([zero_b, sb[:-1]])
    expected = a @ prev_b + prev_a @ b + a @ b
    assert torch.allclose(out, expected, atol=1e-10)
    assert torch.allclose(out.sum(0), a.sum(0) @ b.sum(0), atol=1e-10)


@given(seed=st.integers(0, 2**31 - 1))
def test_hadamard_product_sums_to_product_of_sums(seed):
    a, b = trains(seed, 6), trains(seed + 1, 6)
    out = SpikeSim(T).product(a, b).materialise()
    assert torch.allclose(out.sum(0), a.sum(0) * b.sum(0), atol=1e-10)


SILU = fit_hg_neuron("silu", -16, 16)[0]


@given(seed=st.integers(0, 2**31 - 1))
def test_nonlinear_is_one_evaluation_of_the_accumulated_input(seed):
    """M6 pipelining: the HG neuron reads S_X(T) once and emits its own K-step train, so spike
    mode evaluates it once, as the energy ledger counts it (M8)."""
    x = trains(seed, 7)
    total = SpikeSim(T).accumulate(x)
    out = SpikeSim(T).nonlinear(SILU, x).materialise()
    assert out.shape == (SILU.K, 7)
    assert torch.equal(out, SILU.spikes(total))
    assert torch.equal(out.sum(0), SILU(total))
    assert int((out != 0).sum()) <= int(SILU.count(total).sum()) + 7  # + the step-1 offsets


def test_float_nonlinearity_arrives_at_step_one():
    x = trains(0, 5)
    out = SpikeSim(T).nonlinear(torch.nn.SiLU(), x).materialise()
    total = SpikeSim(T).accumulate(x)
    assert torch.equal(out[0], torch.nn.functional.silu(total)) and not out[1:].any()


def test_product_of_trains_of_different_lengths_sums_to_the_product():
    a, b = trains(0, 6), trains(1, 6)[:3]
    out = SpikeSim(T).product(a, b).materialise()
    assert out.shape[0] == T
    assert torch.allclose(out.sum(0), a.sum(0) * b.sum(0), atol=1e-10)


def test_shift_injects_constant_at_first_step():
    x = trains(0, 2, 3)
    c = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    out = SpikeSim(T).shift(x, c).materialise()
    assert torch.equal(out[1:], x[1:]) and torch.equal(out[0], x[0] + c)


def test_lift_and_accumulate_round_trip_exactly():
    x = torch.randn(4, 5)
    sim = SpikeSim(T)
    assert torch.equal(sim.accumulate(sim.lift(x)), x)
