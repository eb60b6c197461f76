"""Composite operators (METHOD.md M5): spike mode == fast mode, and fidelity to the float op."""

from __future__ import annotations

from unittest.mock import patch

import pytest
import torch
import torch.nn.functional as F

from las.fitting import fit_hg_neuron
from las.modes import Mode
from las.ops import (
    SpikingAttentionCore,
    SpikingFFN,
    SpikingLayerNorm,
    SpikingLinear,
    SpikingRMSNorm,
    set_mode,
)
from las.ops.backend import FastSim
from las.ops.functional import scales_exactly, spiking_softmax
from tests.ops.helpers import norm_neurons, oat_for, softmax_neurons

T = 16


def both_modes(module, *inputs, **kwargs):
    """Run ``module`` in fast then spike mode; return both outputs."""
    set_mode(module, Mode.FAST)
    fast = module(*inputs, **kwargs)
    set_mode(module, Mode.SPIKE)
    spike = module(*inputs, **kwargs)
    set_mode(module, Mode.FAST)
    return fast, spike


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def test_spiking_linear_with_activation(gen):
    x = torch.randn(3, 5, 8, generator=gen, dtype=torch.float64)
    w, b = torch.randn(16, 8, generator=gen).double(), torch.randn(16, generator=gen).double()
    gelu = fit_hg_neuron("gelu", -20, 20)[0]
    module = SpikingLinear(w, b, {"input": oat_for(x), "activation": gelu}, T)
    fast, spike = both_modes(module, x)
    assert torch.allclose(spike, fast, rtol=1e-10, atol=1e-12)
    reference = F.gelu(F.linear(x, w, b))
    # OAT resolution theta_nor/2^T on inputs, times |w| row sums, plus HG abs error 1e-4.
    assert torch.allclose(fast, reference, atol=2e-4)


def soft_capped(scores, softcap):
    """Gemma 2's score soft-cap ``c tanh(s / c)`` (identity without a cap)."""
    return scores if softcap is None else softcap * torch.tanh(scores / softcap)


@pytest.mark.parametrize("offset", ["max", "first"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("softcap", [None, 1.5])
def test_attention_core(gen, offset, masked, softcap):
    q, k, v = (torch.randn(2, 3, 6, 4, generator=gen, dtype=torch.float64) for _ in range(3))
    scaling = 0.5
    raw = q @ k.transpose(-1, -2) * scaling
    scores = soft_capped(raw, softcap)
    keep = torch.ones(6, 6, dtype=torch.bool).tril() if masked else None
    neurons = {"query": oat_for(q), "key": oat_for(k), "value": oat_for(v)}
    if softcap is not None:
        reach = float((raw / softcap).abs().max()) * 1.05
        neurons["softcap"] = fit_hg_neuron("tanh", -reach, reach)[0]
    if offset == "first":
        # The first score is no upper bound: exp inputs and row sums need calibrated ranges.
        shifted = scores - scores[..., :1]
        spread = float(shifted.abs().max()) + 1
        sums = shifted.exp().sum(-1)
        neurons |= softmax_neurons(scores) | {
            "exp": fit_hg_neuron("exp", -spread, spread)[0],
            "reciprocal": fit_hg_neuron("reciprocal", float(sums.min()) / 2, float(sums.max()) * 2)[
                0
            ],
        }
    else:
        neurons |= softmax_neurons(scores)
    module = SpikingAttentionCore(neurons, T, offset=offset)
    fast, spike = both_modes(module, q, k, v, scaling=scaling, keep=keep, softcap=softcap)
    assert torch.allclose(spike, fast, rtol=1e-9, atol=1e-10)
    if keep is not None:
        scores = scores.masked_fill(~keep, float("-inf"))
    reference = scores.softmax(-1) @ v
    assert torch.allclose(fast, reference, atol=2e-3)


def test_a_soft_cap_without_its_neuron_is_refused(gen):
    q = torch.randn(1, 1, 3, 4, generator=gen, dtype=torch.float64)
    neurons = {"query": oat_for(q), "key": oat_for(q), "value": oat_for(q)}
    module = SpikingAttentionCore(neurons | softmax_neurons(q @ q.transpose(-1, -2)), T)
    with pytest.raises(ValueError, match=r"softcap=30\.0.*attention_softcap"):
        module(q, q, q, scaling=1.0, softcap=30.0)


def test_softmax_probabilities_are_mt_encoded_and_close(gen):
    scores = torch.randn(4, 10, generator=gen, dtype=torch.float64) * 3
    neurons = softmax_neurons(scores)
    probs = spiking_softmax(FastSim(), scores, **neurons)
    codes = probs * 2**T
    assert torch.equal(codes, codes.round())  # an MT(tau=1) code
    assert torch.allclose(probs, scores.softmax(-1), atol=3e-4)


def test_layer_norm(gen):
    x = torch.randn(3, 7, 32, generator=gen, dtype=torch.float64) * 2 + 0.5
    x[..., 3] *= 20  # an outlier channel
    w, b = torch.randn(32, generator=gen).double(), torch.randn(32, generator=gen).double()
    module = SpikingLayerNorm(w, b, 1e-5, norm_neurons(x), T)
    fast, spike = both_modes(module, x)
    assert torch.allclose(spike, fast, rtol=1e-9, atol=1e-10)
    assert torch.allclose(fast, F.layer_norm(x, (32,), w, b, 1e-5), atol=2e-3)


@pytest.mark.parametrize("offset", [0.0, 1.0])
def test_rms_norm(gen, offset):
    """``offset`` 1: Gemma's ``(1 + w)`` scale, ``1 + w.float()`` as its module computes it."""
    x = torch.randn(3, 7, 32, generator=gen, dtype=torch.float64)
    w = torch.randn(32, generator=gen).double()
    module = SpikingRMSNorm(w, 1e-6, norm_neurons(x), T, offset=offset)
    fast, spike = both_modes(module, x)
    assert torch.allclose(spike, fast, rtol=1e-9, atol=1e-10)
    scale = w if not offset else (offset + w.float()).double()
    assert torch.allclose(fast, F.rms_norm(x, (32,), scale, 1e-6), atol=2e-3)


@pytest.mark.parametrize("kind", ["gelu", "silu", "swiglu", "fused_swiglu"])
def test_ffn(gen, kind):
    """``fused_swiglu``: one map whose output halves are ``[gate, up]`` (Phi-3's gate_up_proj)."""
    x = torch.randn(2, 5, 16, generator=gen, dtype=torch.float64)
    w_in = torch.randn(32, 16, generator=gen).double() / 4
    w_out = torch.randn(16, 32, generator=gen).double() / 4
    gated = kind.endswith("swiglu")
    w_gate = torch.randn(32, 16, generator=gen).double() / 4 if gated else None
    act = F.silu if kind != "gelu" else F.gelu
    pre = F.linear(x, w_gate if w_gate is not None else w_in)
    hidden = act(pre) * (F.linear(x, w_in) if w_gate is not None else 1)
    neurons = {
        "input": oat_for(x),
        "activation": fit_hg_neuron("gelu" if kind == "gelu" else "silu", -20, 20)[0],
        "hidden": oat_for(hidden),
    }
    if w_gate is not None:  # gate x up is a product of two trains (M5): up is OAT-encoded
        neurons["up"] = oat_for(F.linear(x, w_in))
    if kind == "fused_swiglu":
        fused = torch.cat([w_gate, w_in])
        module = SpikingFFN(fused, None, w_out, None, neurons, T, fused_gate=True)
    else:
        module = SpikingFFN(w_in, None, w_out, None, neurons, T, w_gate=w_gate)
    fast, spike = both_modes(module, x)
    assert torch.allclose(spike, fast, rtol=1e-9, atol=1e-10)
    assert torch.allclose(fast, F.linear(hidden, w_out), atol=2e-3)


def test_float32_spike_mode_agrees_to_float32_rounding(gen):
    x = torch.randn(4, 32, generator=gen)
    w = torch.randn(32, generator=gen)
    module = SpikingRMSNorm(w, 1e-6, norm_neurons(x), T)
    fast, spike = both_modes(module, x)
    assert fast.dtype == spike.dtype == torch.float32
    # A float32 rounding difference can move an OAT code by one level (theta/2^T).
    assert torch.allclose(spike, fast, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_power_of_two_scaling_of_the_queries_gives_the_scaled_scores(gen, dtype):
    """``(Q s) K^T == (Q K^T) s`` bit for bit for a power of two s: the reordered core equals the
    defined one (the scaling applied to the scores) in fast and spike mode."""
    q, k, v = (torch.randn(2, 3, 40, 64, generator=gen, dtype=dtype) * 3 for _ in range(3))
    neurons = {"query": oat_for(q), "key": oat_for(k), "value": oat_for(v)}
    neurons |= softmax_neurons(q @ k.transpose(-1, -2) / 8)
    assert scales_exactly(0.125, neurons["query"], neurons["key"])
    assert not scales_exactly(0.1, neurons["query"], neurons["key"])
    assert not scales_exactly(2.0**-140, neurons["query"], neurons["key"])  # would go subnormal
    module = SpikingAttentionCore(neurons, T)
    for mode in (Mode.FAST, Mode.SPIKE):
        set_mode(module, mode)
        reordered = module(q, k, v, scaling=0.125)
        with patch("las.ops.functional.scales_exactly", return_value=False):
            defined = module(q, k, v, scaling=0.125)
        assert torch.equal(reordered, defined)
