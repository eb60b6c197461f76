"""The FAS SNN (M9): at T = L with uncalibrated neurons it is the fine-tuned QCFS model."""

from __future__ import annotations

import copy

import torch

from las.arch.tiny import tiny_inputs
from las.conversion import ConversionConfig
from las.energy import EnergyConfig, count_spikes, site_table
from las.fas.convert import convert_fas
from las.fas.qcfs import load_qcfs_model
from las.models import ModelSpec, load


def test_uncalibrated_fas_at_T_equal_L_is_the_qcfs_model_and_only_the_ffn_spikes(baselines):
    weights = baselines.dir("finetune_qcfs") / "weights.safetensors"
    original = load(ModelSpec(name="tiny_llama", source="tiny", id="llama")).model
    qcfs_model = copy.deepcopy(original)
    sites, _ = load_qcfs_model(qcfs_model, weights)
    parameters = {}
    for name, module in sites.items():
        parameters[f"{name}.theta"] = module.lam.detach().expand(64).clone()
        parameters[f"{name}.initial"] = torch.full((64,), 0.5)
    snn = convert_fas(copy.deepcopy(original), weights, parameters, ConversionConfig(T=8))
    inputs = tiny_inputs("llama")
    with torch.inference_mode(), count_spikes(snn) as counts:
        got = snn(**inputs).logits
    with torch.inference_mode():
        expected = qcfs_model(**inputs).logits
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4)
    table = site_table(counts, EnergyConfig())
    spiking = table[table["neurons"] > 0]
    assert set(spiking["layer_type"]) == {"activation"}
    assert (table.loc[table["neurons"] == 0, "energy_ratio"] == 1).all()
