"""Energy tables: M8 formulas on hand counts, sums across sites, the shipped constants, refusals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from las import convert_model
from las.arch.tiny import tiny_inputs
from las.energy import EnergyConfig, count_spikes, energy_ratio, site_table, summarise
from tests.energy.helpers import hand_linear

CONF = Path(__file__).resolve().parents[2] / "conf" / "energy" / "default.yaml"


def hand_counts():
    model, x = hand_linear()
    with count_spikes(model) as counts, torch.no_grad():
        model["fc"](x)
    return counts


def test_energies_follow_m8_on_hand_counts():
    cfg = EnergyConfig(e_mac_pj=2.0, e_ac_pj=0.5, e_cmp_pj=0.25, function_macs=3.0)
    sites = site_table(hand_counts(), cfg).set_index("site")
    # fc.input: 48 SOPs and 8 OAT routing comparisons replace 24 MACs; fc.activation: 6 SOPs,
    # 6 segment offsets (ACs) and 6 x 3 gate comparisons replace 6 function evaluations.
    assert sites.loc["fc.input", "e_ann_pj"] == 24 * 2.0
    assert sites.loc["fc.input", "e_snn_pj"] == 48 * 0.5 + 8 * 0.25
    assert sites.loc["fc.activation", "e_ann_pj"] == 6 * 3.0 * 2.0
    assert sites.loc["fc.activation", "e_snn_pj"] == (6 + 6) * 0.5 + 18 * 0.25
    assert sites.loc["fc.input", "firing_rate"] == 0.5
    assert energy_ratio(sites) == pytest.approx((26 + 10.5) / (48 + 36))


def test_default_constants_are_the_45nm_figures_and_match_the_hydra_group():
    expected = EnergyConfig(e_mac_pj=4.6, e_ac_pj=0.9, e_cmp_pj=0.9, function_macs=1.0)
    assert EnergyConfig() == expected
    assert EnergyConfig(**yaml.safe_load(CONF.read_text())) == EnergyConfig()


def test_tiny_llama_totals_are_sums_of_sites(tiny_llama):
    model, calibration = tiny_llama
    snn = convert_model(model, calibration)
    with count_spikes(snn) as counts, torch.no_grad():
        snn(**tiny_inputs("llama", seed=7))
    sites = site_table(counts)
    assert list(sites["site"]) == list(counts)
    for by in ("layer_type", "layer"):
        summary = summarise(sites, by)
        parts, total = summary.drop(index="total"), summary.loc["total"]
        for column in ("spikes", "sops", "ann_macs", "e_ann_pj", "e_snn_pj"):
            assert parts[column].sum() == pytest.approx(total[column])
            assert total[column] == pytest.approx(sites[column].sum())
    total = summarise(sites).loc["total"]
    assert total["firing_rate"] == total["spikes"] / total["neuron_steps"]
    ratio = energy_ratio(sites)
    assert ratio == pytest.approx(total["energy_ratio"])
    assert math.isfinite(ratio) and 0 < ratio < 10
    layers = summarise(sites, "layer").index
    assert list(layers) == ["model.layers.0", "model.layers.1", "model.norm", "lm_head", "total"]


def test_nothing_to_report_is_refused():
    with pytest.raises(ValueError, match="no sites to report"):
        site_table({})
    model, _ = hand_linear()
    with count_spikes(model) as counts:
        pass
    with pytest.raises(ValueError, match="run the model's forward inside count_spikes"):
        site_table(counts)


@pytest.mark.parametrize(
    "bad",
    [
        {"e_mac_pj": float("nan")},
        {"e_ac_pj": 0.0},
        {"e_ac_pj": float("inf")},
        {"e_cmp_pj": -0.9},
        {"function_macs": -1.0},
    ],
)
def test_invalid_constants_are_refused(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"{name}\n.*(greater than|finite number)"):
        EnergyConfig(**bad)
