"""The fused fast-mode softmax (las.ops.fused) equals the generic fast path bit for bit (M5, M6)."""

from __future__ import annotations

import pytest
import torch

from las.errors import NonFiniteActivationError
from las.fitting import fit_hg_neuron
from las.neurons import MTNeuron, compiled
from las.neurons.hg import uniform_code
from las.ops import fused
from las.ops.backend import FastSim
from las.ops.functional import softmax_reference, spiking_softmax
from tests.ops.helpers import softmax_neurons


def core(neurons):
    """The neurons the fused passes evaluate (the score neuron runs before them)."""
    return {k: v for k, v in neurons.items() if k != "score"}


def fused_softmax(scores, neurons, offset, keep, overwrite=False):
    """The fused passes run eagerly, on the reference the generic path subtracts."""
    reference = softmax_reference(FastSim(), scores, offset, keep, neurons["score"])
    return fused.attention_softmax(
        scores, **core(neurons), reference=reference, keep=keep, fuse=False, overwrite=overwrite
    )


def generic(scores, neurons, offset="max", keep=None):
    """The generic fast path (the fused one switched off)."""
    enabled, compiled.ENABLED = compiled.ENABLED, False
    try:
        return spiking_softmax(FastSim(), scores, **neurons, offset=offset, keep=keep)
    finally:
        compiled.ENABLED = enabled


def edge_inputs(neuron) -> torch.Tensor:
    """Every edge, its float32 neighbours, tiny values, the bounds and beyond, random points."""
    edges = neuron.edges
    up = torch.nextafter(edges, torch.tensor(float("inf")))
    down = torch.nextafter(edges, torch.tensor(float("-inf")))
    tiny = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1e-40, -1e-40, 2.0**-31, -(2.0**-31)])
    low, high = neuron.bounds
    gen = torch.Generator().manual_seed(0)
    rand = torch.rand(1 << 16, generator=gen) * (high - low + 4) + low - 2
    return torch.cat([edges, up, down, tiny, torch.tensor([low, high]), rand]).float()


@pytest.mark.parametrize(
    ("name", "low", "high"), [("exp", -16, 0), ("exp", -5.5, 0), ("silu", -8, 8)]
)
def test_uniform_code_is_the_float64_route(name, low, high):
    neuron = fit_hg_neuron(name, low, high)[0]
    layout = neuron.uniform_layout()
    assert layout is not None
    x = edge_inputs(neuron)
    seg64, units64 = neuron._route(x)
    _, seg, q = uniform_code(x, *layout)
    assert seg.dtype == torch.float32
    assert torch.equal(seg.long(), seg64)
    assert torch.equal(q.double(), torch.floor(units64))


def masks(n: int):
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    padded = causal.clone().expand(2, 1, n, n).clone()
    padded[1, :, :3] = False  # fully masked rows (left padding): probabilities exactly 0
    padded[1, :, :, :2] = False
    return {"none": None, "causal": causal, "padded": padded}


@pytest.mark.parametrize("offset", ["max", "first"])
@pytest.mark.parametrize("mask", ["none", "causal", "padded"])
@pytest.mark.parametrize("tau", [1.0, 0.7])
@pytest.mark.parametrize("block", [256, 5])
@pytest.mark.parametrize("zero_in_range", [True, False])
@pytest.mark.parametrize("overwrite", [False, True])
def test_fused_passes_equal_the_generic_path(
    offset, mask, tau, block, zero_in_range, overwrite, monkeypatch
):
    """Blocks of 5 query rows leave out the causally masked keys (uneven last block, fully
    masked rows); an exp range without 0 makes every masked key a clamped input. With
    ``overwrite`` the result lives in the scores' storage (no map allocated)."""
    monkeypatch.setattr(fused, "ROW_BLOCK", block)
    gen = torch.Generator().manual_seed(1)
    n = 24
    scores = torch.randn(2, 3, n, n, generator=gen) * 4
    scores[0, 0, 0, :4] = torch.tensor([2.0, 2.0, -40.0, 0.5])  # ties, a clamped score
    keep = masks(n)[mask]
    neurons = softmax_neurons(scores)
    neurons["probability"] = MTNeuron(tau)
    if not zero_in_range:
        low = float(neurons["exp"].bounds[0])
        neurons["exp"] = fit_hg_neuron("exp", low, -0.5)[0]
    want = generic(scores, neurons, offset, keep)
    clamped = int(neurons["exp"].n_clamped)
    neurons["exp"].reset()
    given = scores.clone()
    got = fused_softmax(given, neurons, offset, keep, overwrite)
    assert torch.equal(got, want)
    assert int(neurons["exp"].n_clamped) == clamped
    assert (got.data_ptr() == given.data_ptr()) is overwrite
    if not overwrite:
        assert torch.equal(given, scores)  # the caller's scores are left as they were


def test_overwrite_leaves_non_finite_and_grad_scores_untouched():
    """Overwriting checks every score first: a non-finite one (kept or masked) returns None
    before any write (the caller's generic path then raises, naming the site); finite scores
    whose offset overflows raise the generic path's error; scores that require grad are never
    overwritten."""
    n = 16
    keep = masks(n)["causal"]
    for where in (0, 9):
        scores = torch.randn(1, 1, n, n)
        neurons = softmax_neurons(scores)
        scores[0, 0, 1, where] = float("nan")
        given = scores.clone()
        assert fused_softmax(given, neurons, "first", keep, overwrite=True) is None
        assert torch.equal(given.nan_to_num(), scores.nan_to_num())
    scores = torch.randn(1, 1, n, n)
    neurons = softmax_neurons(scores)
    scores[0, 0, 1, :2] = torch.tensor([-3e38, 3e38])  # a finite sum, an overflowing offset
    assert fused_softmax(scores.clone(), neurons, "first", keep) is None
    with pytest.raises(NonFiniteActivationError):  # the generic path, on the kept scores
        generic(scores, neurons, "first", keep)
    with pytest.raises(NonFiniteActivationError):  # the scores are gone: raised here
        fused_softmax(scores.clone(), neurons, "first", keep, overwrite=True)
    scores = torch.randn(1, 1, n, n, requires_grad=True)
    neurons = softmax_neurons(scores.detach())
    with torch.no_grad():
        reference = softmax_reference(FastSim(), scores, "first", keep)
    got = fused.attention_softmax(
        scores, **core(neurons), reference=reference, keep=keep, fuse=False, overwrite=True
    )
    assert got.data_ptr() != scores.data_ptr()


@pytest.mark.parametrize("block", [256, 100])
def test_compiled_softmax_equals_the_generic_path(block, monkeypatch):
    monkeypatch.setattr(fused, "ROW_BLOCK", block)
    gen = torch.Generator().manual_seed(2)
    n = 384  # 2 x 2 x 384 x 384 elements: above COMPILE_MIN_ELEMENTS
    scores = torch.randn(2, 2, n, n, generator=gen) * 3
    keep = masks(n)["padded"]
    neurons = softmax_neurons(scores)
    assert fused.applies(scores, **core(neurons))
    want = generic(scores, neurons, "max", keep)
    clamped = int(neurons["exp"].n_clamped)
    neurons["exp"].reset()
    got = spiking_softmax(FastSim(), scores, **neurons, offset="max", keep=keep)
    assert torch.equal(got, want)
    assert int(neurons["exp"].n_clamped) == clamped
    neurons["exp"].reset()
    given = scores.clone()
    got = spiking_softmax(
        FastSim(), given, **neurons, offset="max", keep=keep, overwrite_scores=True
    )
    assert torch.equal(got, want) and got.data_ptr() == given.data_ptr()
    assert int(neurons["exp"].n_clamped) == clamped


def generic_row_max(score, scores, keep):
    """The generic fast-mode row max (fusion switched off)."""
    enabled, compiled.ENABLED = compiled.ENABLED, False
    try:
        return FastSim().row_max(score, scores, keep)
    finally:
        compiled.ENABLED = enabled


@pytest.mark.parametrize("mask", ["none", "causal", "padded"])
@pytest.mark.parametrize("tau", [9.0, 8.7])
@pytest.mark.parametrize("block", [256, 5])
def test_fused_row_max_is_the_generic_row_max(mask, tau, block, monkeypatch):
    monkeypatch.setattr(fused, "ROW_BLOCK", block)
    gen = torch.Generator().manual_seed(3)
    n = 24
    scores = torch.randn(2, 3, n, n, generator=gen) * 4
    k = torch.randint(-(2**16) + 1, 2**16, (n,), generator=gen).float()
    scores[0, 1, 0] = k * (tau * 2.0**-16)  # exact code multiples: quotients on integers
    scores[0, 1, 1] = torch.nextafter(scores[0, 1, 0], torch.tensor(0.0))
    scores[0, 0, 0, :4] = torch.tensor([2.0, 2.0, -40.0, 0.5])  # ties, a capped score
    scores[1, 2, 5] = -torch.rand(n, generator=gen)  # a row of negative codes
    keep = masks(n)[mask]
    score = MTNeuron(tau, T=16)
    want = generic_row_max(score, scores, keep)
    tau, _, bits, dyadic, nearest = score.code_arguments(scores)
    got, sums = fused.code_row_max(scores, keep, tau, bits, dyadic, nearest)  # eager
    assert torch.equal(got, want)
    assert torch.equal(sums, scores.sum(-1))
    monkeypatch.setattr(fused, "COMPILE_MIN_ELEMENTS", 1)
    assert torch.equal(fused.row_max(score, scores, keep), want)  # compiled


@pytest.mark.parametrize(("bits", "rounding"), [(9, "floor"), (16, "nearest"), (9, "nearest")])
def test_fused_passes_keep_the_neurons_bits_and_rounding(bits, rounding, monkeypatch):
    """The probability and score neurons' own code (M12 bits, rounding) in the fused passes."""
    monkeypatch.setattr(fused, "COMPILE_MIN_ELEMENTS", 1)
    gen = torch.Generator().manual_seed(8)
    n = 24
    scores = torch.randn(2, 3, n, n, generator=gen) * 4
    keep = masks(n)["causal"]
    neurons = softmax_neurons(scores)
    neurons["probability"] = MTNeuron(1.0, T=16, bits=bits, rounding=rounding)
    neurons["score"] = MTNeuron(neurons["score"].tau, T=16, bits=bits, rounding=rounding)
    want = generic(scores, neurons, "max", keep)
    assert not torch.equal(want, generic(scores, softmax_neurons(scores), "max", keep))
    assert torch.equal(fused_softmax(scores.clone(), neurons, "max", keep, False), want)
    score = neurons["score"]
    assert torch.equal(fused.row_max(score, scores, keep), generic_row_max(score, scores, keep))


def test_fused_row_max_declines_non_finite_and_observed_scores(monkeypatch):
    monkeypatch.setattr(fused, "COMPILE_MIN_ELEMENTS", 1)
    scores = torch.randn(1, 1, 8, 8)
    score = MTNeuron(4.0)
    assert fused.row_max(score, scores, None) is not None
    scores[0, 0, 3, 1] = float("inf")
    assert fused.row_max(score, scores, None) is None  # the generic path raises, naming the site
    handle = score.register_forward_hook(lambda *_: None)
    assert fused.row_max(score, scores.nan_to_num(posinf=1.0), None) is None
    handle.remove()


def test_key_extents_leave_out_only_keys_masked_in_the_whole_block(monkeypatch):
    monkeypatch.setattr(fused, "ROW_BLOCK", 5)
    n = 12
    causal = masks(n)["causal"]
    assert fused.key_extents(causal, n, n) == [(0, 5, 5), (5, 10, 10), (10, 12, 12)]
    assert fused.key_extents(None, n, n) == [(0, n, n)]
    padded = masks(n)["padded"]  # batch 0 causal, batch 1 without its first keys and rows
    assert fused.key_extents(padded, n, n) == [(0, 5, 5), (5, 10, 10), (10, 12, 12)]
    rows_masked = torch.zeros(1, 1, n, n, dtype=torch.bool)
    rows_masked[..., 7:, :3] = True  # rows 0..6 attend nowhere: one (masked) key is kept
    assert fused.key_extents(rows_masked, n, n) == [(0, 5, 1), (5, 10, 3), (10, 12, 3)]
    shared = torch.ones(2, 1, 1, n, dtype=torch.bool)  # one padding row for all queries
    shared[0, ..., 9:] = False
    shared[1, ..., 8:] = False
    assert fused.key_extents(shared, n, n) == [(0, 5, 9), (5, 10, 9), (10, 12, 9)]


@pytest.mark.parametrize("where", ["kept", "masked"])
def test_non_finite_masked_scores_still_take_the_generic_path(where, monkeypatch):
    """A left-out key's non-finite score is still seen: the generic path raises, as before."""
    monkeypatch.setattr(fused, "ROW_BLOCK", 4)
    monkeypatch.setattr(fused, "COMPILE_MIN_ELEMENTS", 1)
    n = 16
    scores = torch.randn(1, 1, n, n)
    neurons = softmax_neurons(scores)
    scores[0, 0, 1, 9 if where == "masked" else 0] = float("inf")
    keep = masks(n)["causal"]
    assert fused_softmax(scores, neurons, "first", keep) is None
    assert fused.row_max(neurons["score"], scores, keep) is None
    with pytest.raises(NonFiniteActivationError):
        generic(scores, neurons, "first", keep)


def test_non_finite_scores_take_the_generic_path_and_raise():
    scores = torch.randn(1, 1, 8, 8)
    scores[0, 0, 3, 1] = float("nan")
    neurons = softmax_neurons(scores.nan_to_num())
    assert fused_softmax(scores, neurons, "first", None) is None
    with pytest.raises(NonFiniteActivationError):  # the score neuron of the row max names it
        generic(scores, neurons)


def test_applies_only_where_the_closed_forms_are_fused():
    scores = torch.zeros(1, 1, 1024, 1024)
    neurons = softmax_neurons(torch.randn(4, 4))
    assert fused.applies(scores, **core(neurons))
    assert not fused.applies(scores.double(), **core(neurons))
    assert not fused.applies(scores[..., :16, :16], **core(neurons))
    octave = {**neurons, "exp": fit_hg_neuron("reciprocal", 1.0, 8.0)[0]}
    assert not fused.applies(scores, **core(octave))


def test_spike_counting_sees_every_softmax_neuron_with_fusion_on(monkeypatch):
    """Counting hooks the neurons: an observed softmax takes the path that calls them."""
    from las import convert_model
    from las.energy import count_spikes
    from tests.conversion.test_convert import calibrated, run

    model, calibration = calibrated("llama")
    snn = convert_model(model, calibration)
    totals = []
    for enabled in (False, True):
        monkeypatch.setattr(compiled, "ENABLED", enabled)
        monkeypatch.setattr(compiled, "MIN_ELEMENTS", 1)
        monkeypatch.setattr(fused, "COMPILE_MIN_ELEMENTS", 1)
        with count_spikes(snn) as counts:
            run(snn, "llama")
        totals.append({site: (c.neurons, c.spikes) for site, c in counts.items()})
    assert totals[0] == totals[1]
    assert any(site.endswith("probability") and n > 0 for site, (n, _) in totals[1].items())
