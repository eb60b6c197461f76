"""Fused (compiled) fast-mode closed forms equal the eager ones bit for bit (M1, M2, M4, M6)."""

from __future__ import annotations

import pytest
import torch

from las.fitting import fit_hg_neuron
from las.neurons import MTNeuron, OATNeuron, compiled
from las.neurons.hg import uniform_value
from las.neurons.mt import fused_code_value, is_dyadic, threshold_fields

SHAPE = (32, 1024)  # compiled.MIN_ELEMENTS elements


def eager(neuron, x):
    """The eager fast-mode output (fusion switched off)."""
    enabled, compiled.ENABLED = compiled.ENABLED, False
    try:
        return neuron(x)
    finally:
        compiled.ENABLED = enabled


def hard_inputs(tau: torch.Tensor, T: int, gen) -> torch.Tensor:
    """Random values, exact code multiples ``k tau / 2**T`` (quotients landing on integers), their
    float32 neighbours, values at and beyond the thresholds, zeros and tiny values."""
    x = torch.randn(SHAPE, generator=gen) * tau * 0.7
    k = torch.randint(1, 2**T, SHAPE, generator=gen).float()
    multiples = k * (tau * 2.0**-T)
    x[:8] = multiples[:8]
    x[8:12] = torch.nextafter(multiples[8:12], torch.tensor(0.0))
    x[12:14] = -multiples[12:14]
    x[14] = tau.expand(SHAPE)[14] * torch.linspace(0.9, 1.1, SHAPE[1])
    x[15, :4] = torch.tensor([0.0, -0.0, 1e-30, -1e-40])
    return x


@pytest.mark.parametrize("tau", [1.0, 0.7, "channels"])
def test_fused_mt_equals_the_closed_form(tau):
    gen = torch.Generator().manual_seed(0)
    tau = torch.rand(SHAPE[1], generator=gen) + 0.3 if tau == "channels" else torch.tensor(tau)
    neuron = MTNeuron(tau, T=16)
    x = hard_inputs(neuron.tau, 16, gen)
    assert compiled.wanted(x)
    want = eager(neuron, x)
    assert torch.equal(neuron.fused_value(x), want)
    assert torch.equal(neuron(x), want)
    nor = threshold_fields(neuron.fused_thresholds(x)[0])
    assert torch.equal(fused_code_value(x, nor, None, 16, is_dyadic(nor)), want)  # eager


def test_a_function_runs_eagerly_until_its_elements_pay_for_a_compile(monkeypatch):
    """Tiered: eager (the same values) for the process's first EAGER_ELEMENTS elements, then
    every fused function compiles on its next call."""
    gen = torch.Generator().manual_seed(2)
    neuron = MTNeuron(torch.tensor(0.8), T=12)
    x = hard_inputs(neuron.tau, 12, gen)
    want = eager(neuron, x)
    monkeypatch.setattr(compiled, "EAGER_ELEMENTS", 2 * x.numel())
    monkeypatch.setattr(compiled, "_compiled", {})
    monkeypatch.setattr(compiled, "_eager_elements", 0)
    made = []
    real = torch.compile

    def compile_spy(fn, **kwargs):
        made.append(fn.__name__)
        return real(fn, **kwargs)

    monkeypatch.setattr(torch, "compile", compile_spy)
    for calls in (1, 2):
        assert torch.equal(neuron(x), want)
        assert made == [] and compiled._eager_elements == calls * x.numel()
    assert torch.equal(neuron(x), want)
    assert made == ["fused_code_value"] and "mt" in compiled._compiled


def _scaled_floor(x: torch.Tensor, bits: int) -> torch.Tensor:
    return (x * 2.0**bits).floor()


def test_integer_arguments_compile_as_constants_and_the_dynamo_config_is_restored(monkeypatch):
    """Each distinct integer is its own specialised graph (a symbolic one would guard on
    nothing), and the caller's dynamo settings are back after every call, failed or not."""
    from torch._dynamo.utils import counters

    monkeypatch.setattr(compiled, "EAGER_ELEMENTS", 0)
    monkeypatch.setattr(compiled, "_compiled", {})
    monkeypatch.setattr(compiled, "ENABLED", True)  # a failed call below switches it off
    config = torch._dynamo.config
    before = {key: getattr(config, key) for key in compiled.DYNAMO_CONFIG}
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    graphs = counters["stats"]["unique_graphs"]
    for bits in (16, 15, 14, 16):
        assert torch.equal(
            compiled.run("scaled_floor", _scaled_floor, x, bits), _scaled_floor(x, bits)
        )
        assert {key: getattr(config, key) for key in compiled.DYNAMO_CONFIG} == before
    assert counters["stats"]["unique_graphs"] - graphs == 3  # 16, 15, 14: constants, 16 cached
    with pytest.raises(TypeError), pytest.warns(UserWarning, match="not compiled"):
        compiled.run("scaled_floor", _scaled_floor, x)  # the eager retry fails the same way
    assert {key: getattr(config, key) for key in compiled.DYNAMO_CONFIG} == before


def test_fused_oat_equals_the_closed_form():
    gen = torch.Generator().manual_seed(1)
    nor = torch.rand(SHAPE[1], generator=gen) * 0.5 + 0.1
    neuron = OATNeuron(nor, nor * 9.7, T=12)
    x = torch.cat([hard_inputs(neuron.tau, 12, gen), hard_inputs(neuron.theta_out, 12, gen)])
    want = eager(neuron, x)
    assert torch.equal(neuron(x), want)
    assert neuron.fused_value(x.double()) is None  # float64 stays eager
    assert neuron.fused_value(x[:2]) is None  # small tensors stay eager


def test_threshold_fields_are_the_exact_integer_form():
    tau = torch.tensor([2.0**-104, 3.0 * 2.0**-100, 0.7, 1.0, 2.7182817, 2.0**100, 3.4e38])
    fields = threshold_fields(tau)
    assert fields.dtype == torch.float32 and fields.shape == (3, tau.numel())
    assert torch.equal(fields[0], tau)
    significand, power = fields[1].double(), fields[2].double()
    assert bool(((significand >= 2**23) & (significand < 2**24)).all())
    assert torch.equal(significand.frac(), torch.zeros_like(significand))
    assert torch.equal(significand / power, tau.double())  # tau = M 2**E exactly
    assert is_dyadic(threshold_fields(torch.tensor([0.5, 4.0])))
    assert not is_dyadic(fields)
    assert threshold_fields(torch.tensor([1.0, 2.0**-105])) is None  # 2**-E not normal there
    assert threshold_fields(torch.tensor(1e-44)) is None  # subnormal


@pytest.mark.parametrize("rounding", ["floor", "nearest"])
@pytest.mark.parametrize("tau", [2.0**-104 * 1.7, 3.0e-20, 2.0**100 * 1.3])
def test_fused_codes_are_exact_at_extreme_thresholds(tau, rounding):
    gen = torch.Generator().manual_seed(5)
    neuron = OATNeuron(tau, tau * 7.7, T=16, rounding=rounding)
    x = torch.cat([hard_inputs(neuron.tau, 16, gen), hard_inputs(neuron.theta_out, 16, gen)])
    x[0, :3] = torch.tensor([3.0e38, -1e-45, 2.0**-126])  # a huge, a subnormal, a tiny input
    assert neuron.fused_code(x) is not None
    assert torch.equal(neuron(x), eager(neuron, x))
    tiny = MTNeuron(2.0**-110, T=16)  # below 2**-104: the eager closed form runs
    assert tiny.fused_code(x) is None
    assert torch.equal(tiny(x), eager(tiny, x))


def test_fused_thresholds_follow_a_changed_threshold():
    """The integer form of the thresholds is kept between calls, never past a change of them."""
    gen = torch.Generator().manual_seed(6)
    neuron = MTNeuron(torch.tensor(0.7), T=16)
    x = torch.randn(SHAPE, generator=gen)
    before = neuron(x)
    assert neuron._fields(neuron.fused_thresholds(x)) is neuron._fields_cache[2]  # kept
    neuron.load_state_dict({"tau": torch.tensor(0.3)})  # in place: the version counter moves
    assert torch.equal(neuron(x), eager(neuron, x)) and not torch.equal(neuron(x), before)
    with torch.no_grad():
        neuron.tau.mul_(2.0)
    assert torch.equal(neuron(x), eager(neuron, x))
    neuron.tau = torch.tensor(1.1)  # a new tensor
    assert torch.equal(neuron(x), eager(neuron, x))
    with torch.inference_mode():  # inference tensors have no version counter: never kept
        made = MTNeuron(torch.tensor(0.9), T=16)
        assert torch.equal(made(x), eager(made, x))
        made.tau.fill_(0.45)
        assert torch.equal(made(x), eager(made, x))


@pytest.mark.parametrize(("name", "low", "high"), [("silu", -8, 8), ("exp", -12.5, 0)])
def test_fused_hg_equals_the_closed_form(name, low, high):
    neuron = fit_hg_neuron(name, low, high)[0]
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(SHAPE, generator=gen) * (high - low + 6) + low - 3
    edges = neuron.edges.float()
    x[0, : edges.numel()] = edges
    x[1, : edges.numel()] = torch.nextafter(edges, torch.tensor(-1e9))
    x[2, :4] = torch.tensor([0.0, -0.0, -1e-30, 1e-40])
    want = eager(neuron, x)
    clamped = int(neuron.n_clamped)
    neuron.reset()
    assert torch.equal(neuron(x), want)
    assert int(neuron.n_clamped) == clamped > 0


def test_fused_hg_pass_reads_inside_its_tables_for_non_finite_inputs():
    """The passes' lookups run without bounds checks (``compiled.INDUCTOR_OPTIONS``): a NaN or
    inf input must still index inside the tables (its value is arbitrary: callers check first),
    and every finite input keeps the closed form's value."""
    neuron = fit_hg_neuron("exp", -12.5, 0)[0]
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(SHAPE, generator=gen) * -14
    x[::3, ::5] = float("nan")
    x[1, :8] = torch.tensor([float("inf"), -float("inf")]).repeat(4)
    finite = torch.isfinite(x)
    want = eager(neuron, x.nan_to_num(0.0))
    value, outside = compiled.run(
        "hg_uniform", uniform_value, x, neuron.integer_tables, neuron.uniform_layout()
    )
    assert torch.equal(value[finite], want[finite])
    assert int(outside) == int((~finite).sum() + (x[finite] < -12.5).sum())


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [("square", 2.0**-12, 2.0**6), ("rsqrt", 2.0**-16, 2.0**8), ("reciprocal", 1.0, 1024.0)],
)
def test_fused_octave_hg_equals_the_closed_form(name, low, high):
    neuron = fit_hg_neuron(name, low, high)[0]
    assert neuron.octave_layout() is not None
    gen = torch.Generator().manual_seed(3)
    width = 2048
    x = (torch.rand(32, width, generator=gen) * 2 - 0.5) * high * 1.2
    edges = neuron.edges.float()
    assert edges.numel() <= width
    x[0, : edges.numel()] = edges
    x[1, : edges.numel()] = torch.nextafter(edges, torch.tensor(-1e9))
    x[2, : edges.numel()] = torch.nextafter(edges, torch.tensor(1e9))
    x[3, :6] = torch.tensor([0.0, -0.0, -1e-30, 1e-40, 1e30, -1e30])
    x[4] = torch.logspace(-20, 10, width, base=2)  # every octave, in range and beyond
    x[5] = -x[4]
    want = eager(neuron, x)
    clamped = int(neuron.n_clamped)
    neuron.reset()
    assert torch.equal(neuron(x), want)
    assert int(neuron.n_clamped) == clamped > 0


def test_octave_layout_only_where_float32_fields_are_exact():
    assert fit_hg_neuron("rsqrt", 2.0**-16, 2.0**8)[0].octave_layout() is not None
    assert fit_hg_neuron("exp", -8.0, 0.0)[0].octave_layout() is None  # uniform partition
    tiny = fit_hg_neuron("reciprocal", 2.0**-140, 2.0**-120)[0]  # subnormal float32 inputs
    assert tiny.octave_layout() is None


def eager_count(neuron, x):
    """The eager closed form's spikes per element (fusion switched off)."""
    enabled, compiled.ENABLED = compiled.ENABLED, False
    try:
        assert neuron.fused_count(x) is None
        return neuron.closed_form(x, count=True)[1]
    finally:
        compiled.ENABLED = enabled


@pytest.mark.parametrize(("code", "bits"), [("binary", None), ("binary", 9), ("naf", None)])
@pytest.mark.parametrize("tau", [0.5, "channels"])
def test_fused_mt_and_oat_counts_equal_the_closed_form(code, bits, tau):
    gen = torch.Generator().manual_seed(4)
    tau = torch.rand(SHAPE[1], generator=gen) + 0.3 if tau == "channels" else torch.tensor(tau)
    mt = MTNeuron(tau, T=16, code=code, bits=bits)
    oat = OATNeuron(tau, tau * 7.3, T=16, code=code, bits=bits)
    x = torch.cat([hard_inputs(mt.tau, 16, gen), hard_inputs(oat.theta_out, 16, gen)])
    for neuron in (mt, oat):
        want = eager_count(neuron, x)
        assert want.dtype == torch.int64 and int(want.sum()) > 0
        assert torch.equal(neuron.fused_count(x), want)
        assert torch.equal(neuron.count(x), want)
    assert mt.fused_count(x.double()) is None and mt.fused_count(x[:2]) is None  # eager there


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [("silu", -8, 8), ("exp", -12.5, 0), ("square", 2.0**-12, 2.0**6), ("rsqrt", 2.0**-16, 8)],
)
def test_fused_hg_counts_and_segments_equal_the_closed_form(name, low, high):
    neuron = fit_hg_neuron(name, low, high)[0]
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(16, 2048, generator=gen) * (high - low) * 1.4 + low - 0.2 * (high - low)
    edges = neuron.edges.float()
    x[0, : edges.numel()] = edges
    x[1, : edges.numel()] = torch.nextafter(edges, torch.tensor(-1e9))
    x[2, :4] = torch.tensor([0.0, -0.0, -1e-30, 1e-40])
    assert neuron.fused_count(x) is not None  # a regular layout: fused
    want = eager_count(neuron, x)
    assert int(want.sum()) > 0
    assert torch.equal(neuron.count(x), want)
    enabled, compiled.ENABLED = compiled.ENABLED, False
    try:
        segments = neuron.segment(x)
    finally:
        compiled.ENABLED = enabled
    assert torch.equal(neuron.segment(x), segments)


@pytest.mark.parametrize("kind", ["mt", "oat", "silu", "rsqrt"])
def test_a_counted_forward_keeps_the_counts_of_its_own_input(kind, monkeypatch):
    """While ``counting``, the fused forward pass also computes the counts (and HG segments) of
    its input: ``count`` / ``segment_count`` on that very tensor take them (no second pass), once;
    values, clamp counts and counts equal the eager closed forms."""
    gen = torch.Generator().manual_seed(6)
    if kind in ("mt", "oat"):
        tau = torch.rand(SHAPE[1], generator=gen) + 0.3
        neuron = MTNeuron(tau, T=8, bits=7) if kind == "mt" else OATNeuron(tau, tau * 5.1, T=8)
        x = torch.cat([hard_inputs(tau, 8, gen), hard_inputs(tau * 5.1, 8, gen)])
    else:
        neuron = fit_hg_neuron(kind, *((-8, 8) if kind == "silu" else (2.0**-16, 8)))[0]
        x = torch.randn(SHAPE, generator=gen) * 6
    want_value, want_count = eager(neuron, x), eager_count(neuron, x)
    hg = kind in ("silu", "rsqrt")
    want_segment, clamped = (eager_segment(neuron, x), int(neuron.n_clamped)) if hg else (0, 0)
    neuron.counting = True
    assert torch.equal(neuron(x), want_value)
    assert neuron._kept is not None and neuron._kept[0] is x
    with monkeypatch.context() as patch:  # a second pass would fail here
        patch.setattr(neuron, "fused_count", lambda _: pytest.fail("counted twice"))
        patch.setattr(neuron, "_fused_code", lambda _: pytest.fail("counted twice"), raising=False)
        if hg:
            segment, spikes = neuron.segment_count(x)
            assert torch.equal(segment, want_segment)
            assert int(neuron.n_clamped) == 2 * clamped  # the eager call above tallied once
        else:
            spikes = neuron.count(x)
    assert torch.equal(spikes, want_count) and int(spikes.sum()) > 0
    assert neuron._kept is None  # taken once
    neuron(x)
    assert torch.equal(neuron.count(x.clone()), want_count)  # another tensor: computed again
    assert neuron._kept is None


def eager_segment(neuron, x):
    """The float64 route's segments (fusion switched off)."""
    enabled, compiled.ENABLED = compiled.ENABLED, False
    try:
        return neuron.segment(x)
    finally:
        compiled.ENABLED = enabled
