"""Exact counts per site: hand-computed operators, a tiny LLaMA against its analytic MACs, refusals.

Hand counts use T = 4: an MT/OAT element fires popcount(q) spikes with the 4-bit code
``q = min(floor(|x| 16 / tau), 15)`` (METHOD.md M1, M2; see ``tests/energy/helpers.py``).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from las import ConversionConfig, convert_model
from las.arch.tiny import BUILDERS, tiny_inputs, tiny_model
from las.calibration import calibrate_model
from las.calibration.observe import ObserverFactory
from las.conversion.build import build_spiking
from las.conversion.factory import FloatNonlinearity
from las.energy import count_spikes
from las.errors import NonFiniteActivationError
from las.fitting import fit_hg_neuron
from las.neurons import HGNeuron, MTNeuron, OATNeuron, compiled
from las.ops import SpikingAttentionCore, SpikingLayerNorm, SpikingOp, set_mode
from tests.energy.helpers import ACTIVATION_CODES, INPUT_CODES, hand_linear, popcount
from tests.neurons.test_codes import textbook_naf
from tests.ops.helpers import norm_neurons


def test_linear_sites_match_hand_counts():
    model, x = hand_linear()
    with count_spikes(model) as counts, torch.no_grad():
        model["fc"](x)
    spikes = sum(popcount(q) for q in INPUT_CODES)
    assert spikes == 16
    site = counts["fc.input"]
    assert (site.kind, site.layer_type, site.neurons, site.spikes) == ("OATNeuron", "ffn", 8, 16)
    assert site.firing_rate == 16 / (8 * 4)
    assert site.sops == 16 * 3  # every input spike feeds out_features = 3 synapses
    assert site.ann_macs == 2 * 4 * 3  # tokens * in * out
    act = counts["fc.activation"]
    assert act.spikes == sum(popcount(u) for u in ACTIVATION_CODES) == 6
    assert act.sops == 6 and act.ann_functions == 6 and act.layer_type == "activation"
    assert site.snn_macs == act.snn_macs == 0
    # OAT routes each element with one comparison (M2); the HG gate over 2 segments is a tree
    # of ceil(log2 2) = 1 comparison plus 2 for the clamp (M4); each element's segment offset
    # (1 in both segments) is one event into its one synapse.
    assert site.snn_comparisons == 8 and site.snn_acs == 0
    assert act.snn_comparisons == 6 * 3 and act.snn_acs == 6


def test_naf_spikes_are_one_ac_each_whatever_their_sign():
    """M11: a negative spike is a subtraction, one AC: SOPs are the non-zero NAF digits times
    the fan-out, and the firing rate is per step of the T + 1 step train."""
    model, x = hand_linear()
    model["fc"].neurons["input"] = OATNeuron(1.0, 4.0, T=4, code="naf")
    with count_spikes(model) as counts, torch.no_grad():
        model["fc"](x)
    spikes = sum(sum(d != 0 for d in textbook_naf(q)) for q in INPUT_CODES)
    assert spikes == 11 < 16  # 14 = 16 - 2, 15 = 16 - 1: two digits each
    site = counts["fc.input"]
    assert (site.spikes, site.sops, site.steps) == (spikes, spikes * 3, 5)
    assert site.firing_rate == spikes / (8 * 5) and site.ann_macs == 2 * 4 * 3


def test_attention_core_fanouts_match_hand_counts():
    neurons = {
        "query": MTNeuron(1.0, 4),
        "key": MTNeuron(1.0, 4),
        "value": MTNeuron(1.0, 4),
        "exp": FloatNonlinearity("exp"),
        "reciprocal": FloatNonlinearity("reciprocal"),
        "probability": MTNeuron(1.0, 4),
        "score": MTNeuron(1.0, 4),
    }
    core = SpikingAttentionCore(neurons, T=4)
    q = torch.tensor([[[[0.5, 0.25], [0.75, 0.0]]]])  # codes 8, 4, 12, 0: 4 spikes
    k = torch.tensor([[[[0.5, 0.5], [0.125, 0.0], [0.9375, 0.0]]]])  # 8, 8, 2, 0, 15, 0: 7
    keep = torch.tensor([[True, True, False], [True, True, True]])
    with count_spikes(core) as counts, torch.no_grad():
        core(q, k, k, scaling=1.0, keep=keep)
    n_q, n_k, d = 2, 3, 2
    assert counts["query"].spikes == 4 and counts["query"].sops == 4 * n_k
    assert counts["key"].spikes == 7 and counts["key"].sops == 7 * n_q
    assert counts["value"].spikes == 7 and counts["value"].sops == 7 * n_q
    scores = (q @ k.transpose(-1, -2)).masked_fill(~keep, float("-inf"))
    p_codes = torch.floor(torch.softmax(scores, -1) * 16).long().flatten().tolist()
    p_spikes = sum(popcount(c) for c in p_codes)
    assert counts["probability"].spikes == p_spikes and counts["probability"].sops == p_spikes * d
    qk = pv = n_q * n_k * d  # B = H = 1
    assert counts["query"].ann_macs + counts["key"].ann_macs == qk
    assert counts["probability"].ann_macs + counts["value"].ann_macs == pv
    # Score codes floor(16 s): row 0 [6, 1, (7 masked)], row 1 [6, 1, 11]. M13 (MSB first): row 0
    # fires at steps 2 and 3 (2 + 1 candidates compared), row 1 at steps 1, 3, 4 (3 + 1 + 1).
    score = counts["score"]
    assert (score.spikes, score.sops) == (2 + 1 + 3 + 2 + 1 + 3, 0)
    assert score.snn_comparisons == 8 and score.ann_comparisons == n_q * (n_k - 1)
    # Float sites (no HG): no neurons, their ANN work stays float in the SNN.
    scores_n = n_q * n_k
    exp, rec = counts["exp"], counts["reciprocal"]
    assert (exp.neurons, exp.spikes, exp.sops) == (0, 0, 0)
    assert exp.ann_functions == exp.snn_functions == scores_n
    assert exp.ann_macs == exp.snn_macs == scores_n // 2  # half the Hadamard with 1/sum
    assert exp.ann_acs == exp.snn_acs == 2 * scores_n  # - reference, row sum
    assert rec.ann_functions == n_q and rec.ann_macs == rec.snn_macs == scores_n - scores_n // 2
    assert {c.layer_type for c in counts.values()} == {"qk", "pv", "softmax"}


def test_soft_cap_tanh_feeds_its_kept_scores_and_replaces_one_tanh_each():
    """Gemma 2's score soft-cap ``c tanh(s / c)``: an HG tanh whose spikes accumulate into the
    capped score (fan-out 1, 0 at masked keys), one tanh per score on the ANN side; its gate and
    offsets are the HG routing of every neuron; ``/ c`` and ``* c`` are free; the row max reads
    the capped scores."""
    tanh = fit_hg_neuron("tanh", -4.0, 4.0)[0]
    neurons = {
        "query": MTNeuron(1.0, 4),
        "key": MTNeuron(1.0, 4),
        "value": MTNeuron(1.0, 4),
        "softcap": tanh,
        "exp": FloatNonlinearity("exp"),
        "reciprocal": FloatNonlinearity("reciprocal"),
        "probability": MTNeuron(1.0, 4),
        "score": MTNeuron(1.0, 4),
    }
    core = SpikingAttentionCore(neurons, T=4)
    q = torch.tensor([[[[0.5, 0.25], [0.75, 0.0]]]])
    k = torch.tensor([[[[0.5, 0.5], [0.125, 0.0], [0.9375, 0.0]]]])
    keep = torch.tensor([[True, True, False], [True, True, True]])
    captured = {}
    tanh.register_forward_hook(lambda m, a, o: captured.setdefault("x", a[0]))
    with count_spikes(core) as counts, torch.no_grad():
        core(q, k, k, scaling=1.0, keep=keep, softcap=2.0)
    x = captured["x"]
    spikes = tanh.count(x)
    cap = counts["softcap"]
    assert cap.kind == "HGNeuron" and cap.layer_type == "softmax"
    assert cap.spikes == int(spikes.sum()) and cap.sops == int((spikes * keep).sum())
    assert cap.ann_functions == 6 and cap.snn_functions == cap.snn_macs == 0
    assert cap.snn_comparisons == tanh.gate_comparisons * 6
    offsets = tanh.offset[tanh.segment(x)] != 0
    assert cap.snn_acs == int((offsets * keep).sum())


def analytic_llama(config, batch: int, length: int) -> dict[str, int]:
    """MACs, ACs, comparisons and function evaluations of the float LLaMA on ``batch x length``
    tokens (the M8 ledger: sums are ACs, the softmax's row max comparisons)."""
    h, m, V = config.hidden_size, config.intermediate_size, config.vocab_size
    H, kv = config.num_attention_heads, config.num_key_value_heads
    d, N = h // H, batch * length
    rows, scores = batch * H * length, batch * H * length * length
    # RMSNorm: Hadamard and weight (MACs), the row sum of squares (ACs), x^2 and 1/sqrt
    norm = {"macs": 2 * N * h, "acs": N * h, "comparisons": 0, "functions": N * h + N}
    layer = {
        "macs": N * h * H * d * 2  # q_proj, o_proj
        + N * h * kv * d * 2  # k_proj, v_proj
        + 2 * scores * d  # QK^T, PV
        + scores  # softmax normalisation
        + 3 * N * h * m  # gate, up, down
        + N * m,  # SwiGLU Hadamard
        "acs": 2 * scores + 2 * N * h,  # softmax: - row max, row sum; two residual adds
        "comparisons": rows * (length - 1),  # the row max
        "functions": scores + rows + N * m,  # exp, 1/x, SiLU
    }
    L = config.num_hidden_layers
    total = {k: L * (layer[k] + 2 * norm[k]) + norm[k] for k in layer}
    total["macs"] += N * h * V  # lm_head
    return total


def observed(family: str):
    """The tiny ``family`` built with observers at every site: every operator and site is priced
    (ANN work and layer types; observers are float sites, so no spikes) without calibration."""
    return build_spiking(tiny_model(family), ObserverFactory())


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_every_site_of_every_family_is_priced(family):
    model = observed(family)
    with count_spikes(model) as counts, torch.no_grad():
        model(**tiny_inputs(family))
    work = ("ann_macs", "ann_acs", "ann_comparisons", "ann_functions")
    assert counts and all(sum(getattr(c, w) for w in work) > 0 for c in counts.values())


@pytest.mark.parametrize("family", ["llama", "phi3"])
def test_fused_maps_cost_what_separate_ones_do(family):
    """Phi-3's fused ``qkv_proj`` and ``gate_up_proj`` replace LLaMA's separate maps: the same
    analytic MACs (the conventions of :mod:`las.energy.rules`) at the same sizes."""
    model = observed(family)
    inputs = tiny_inputs(family, seed=7)
    with count_spikes(model) as counts, torch.no_grad():
        model(**inputs)
    expected = analytic_llama(model.config, *inputs["input_ids"].shape)
    assert sum(c.ann_macs for c in counts.values()) == expected["macs"]
    assert sum(c.ann_functions for c in counts.values()) == expected["functions"]


def test_tiny_llama_counts_equal_the_analytic_model(tiny_llama):
    model, calibration = tiny_llama
    snn = convert_model(model, calibration)
    inputs = tiny_inputs("llama", seed=7)
    with count_spikes(snn) as counts, torch.no_grad():
        snn(**inputs)
    expected = analytic_llama(model.config, *inputs["input_ids"].shape)
    for work, value in expected.items():
        assert sum(getattr(c, f"ann_{work}") for c in counts.values()) == value, work
    assert {c.layer_type for c in counts.values()} == {
        "attn_proj",
        "qk",
        "softmax",
        "pv",
        "ffn",
        "activation",
        "norm",
        "head",
        "residual",
    }
    q_proj = counts["model.layers.0.self_attn.q_proj.input"]
    assert q_proj.sops == q_proj.spikes * model.config.hidden_size > 0
    # gate x up is a product of two trains (M5): no float multiply is left anywhere
    assert sum(c.snn_macs + c.snn_functions for c in counts.values()) == 0
    up, gate = counts["model.layers.1.mlp.up"], counts["model.layers.1.mlp.activation"]
    assert up.kind == "OATNeuron" and up.sops == up.spikes > 0 and gate.sops == gate.spikes


def test_layer_norm_centring_is_a_sum_and_a_subtraction_per_element_on_both_sides():
    x = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    norm = SpikingLayerNorm(None, None, 1e-5, norm_neurons(x), T=8)
    with count_spikes(norm) as counts, torch.no_grad():
        norm(x)
    centring = counts["input"]
    # ANN: the row sum and the subtraction, one AC each per element; SNN: the spikes enter
    # their own centred value and the row sum (fan-out 2), the mean is subtracted once each
    assert (centring.ann_acs, centring.snn_acs, centring.ann_macs) == (2 * x.numel(), x.numel(), 0)
    assert centring.sops == 2 * centring.spikes > 0


def test_routing_comparisons_are_counted_per_neuron(tiny_llama):
    model, calibration = tiny_llama
    snn = convert_model(model, calibration)
    with count_spikes(snn) as counts, torch.no_grad():
        snn(**tiny_inputs("llama", seed=2))
    modules = {getattr(m, "site", None): m for m in snn.modules()}
    for site, count in counts.items():
        neuron = modules.get(site)
        if isinstance(neuron, HGNeuron):  # the gate's comparator tree, once per evaluation
            segments = neuron.delta.numel()
            assert neuron.gate_comparisons == math.ceil(math.log2(segments)) + 2
            assert count.snn_comparisons == count.neurons * neuron.gate_comparisons > 0, site
            assert count.snn_acs > 0  # segment offsets x fan-out
        elif isinstance(neuron, OATNeuron):  # the outlier mask (M2)
            assert count.snn_comparisons == count.neurons > 0, site
        elif site.endswith("score"):  # M13: comparisons of spikes
            assert count.snn_comparisons > 0 and count.ann_comparisons > 0


def test_counts_equal_the_simulated_trains(tiny_llama):
    model, calibration = tiny_llama
    snn = convert_model(model, calibration)
    modules = dict(snn.named_modules())
    captured = {}
    for role in ("query", "exp", "probability"):
        neuron = modules[f"model.layers.1.self_attn.las_core.neurons.{role}"]
        neuron.register_forward_hook(lambda m, a, o, role=role: captured.setdefault(role, a[0]))
    with count_spikes(snn) as counts, torch.no_grad():
        snn(**tiny_inputs("llama", seed=3))
    for role, x in captured.items():
        neuron = modules[f"model.layers.1.self_attn.las_core.neurons.{role}"]
        _, fired = zip(*neuron.simulate(x), strict=True)
        train_spikes = int(sum(f.sum() for f in fired))
        assert counts[f"model.layers.1.self_attn.las_core.{role}"].spikes == train_spikes > 0


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_fused_counts_equal_the_eager_closed_forms(family, tiny_llama, monkeypatch):
    """Every site's counts with the compiled counts of MT, OAT and HG neurons (forced on every
    tensor) equal those of the eager closed forms (fusion off), on two families."""
    if family == "llama":
        model, calibration = tiny_llama
    else:
        model = tiny_model(family)
        calibration, _ = calibrate_model(model, [tiny_inputs(family, seed=s) for s in range(4)])
    snn = convert_model(model, calibration)
    inputs = tiny_inputs(family, seed=5)

    def counted(fused: bool) -> dict:
        monkeypatch.setattr(compiled, "ENABLED", fused)
        monkeypatch.setattr(compiled, "MIN_ELEMENTS", 0)
        with count_spikes(snn) as counts, torch.no_grad():
            snn(**inputs)
        return counts

    eager = counted(False)
    assert sum(c.spikes for c in eager.values()) > 0
    assert counted(True) == eager


def test_float_head_and_float_nonlinearities_cost_macs(tiny_llama):
    model, calibration = tiny_llama
    snn = convert_model(model, calibration, ConversionConfig(convert_head=False, hg=False))
    inputs = tiny_inputs("llama", seed=7)
    with count_spikes(snn) as counts, torch.no_grad():
        snn(**inputs)
    head = counts["lm_head"]
    tokens = inputs["input_ids"].numel()
    assert head.kind == "Linear" and head.layer_type == "head" and head.sops == 0
    assert head.ann_macs == head.snn_macs == tokens * model.config.hidden_size * 257
    floats = [c for c in counts.values() if c.kind == "FloatNonlinearity"]
    assert {c.layer_type for c in floats} == {"softmax", "activation", "norm"}
    assert all(c.snn_functions == c.ann_functions > 0 and c.neurons == 0 for c in floats)


def test_spike_mode_is_refused_and_hooks_are_removed(tiny_llama):
    model, calibration = tiny_llama
    snn = convert_model(model, calibration)
    set_mode(snn, "spike")
    with pytest.raises(ValueError, match="fast-mode"), count_spikes(snn), torch.no_grad():
        snn(**tiny_inputs("llama"))
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in snn.modules())


def test_non_finite_activation_names_the_site_and_leaves_no_hooks(tiny_llama):
    model, calibration = tiny_llama
    snn = convert_model(model, calibration)
    embeds = torch.randn(1, 4, model.config.hidden_size)
    embeds[0, 1, 3] = float("nan")
    with pytest.raises(NonFiniteActivationError, match="input_layernorm"), count_spikes(snn):
        snn(inputs_embeds=embeds)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in snn.modules())


def test_neurons_outside_operators_are_refused():
    model = nn.Sequential(OATNeuron(1.0, 4.0, T=4))
    with pytest.raises(ValueError, match="belongs to no spiking operator"), count_spikes(model):
        pass
    assert not model[0]._forward_hooks


def test_operators_without_a_rule_are_refused():
    class Custom(SpikingOp):
        pass

    model = nn.ModuleDict({"op": Custom({"input": OATNeuron(1.0, 4.0, T=4)}, T=4)})
    refused = pytest.raises(ValueError, match=r"no energy rule for operator Custom; known: ")
    with refused, count_spikes(model):
        pass
