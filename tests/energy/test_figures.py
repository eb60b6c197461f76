"""The per-layer energy figure is written as PNG and PDF."""

from __future__ import annotations

import torch

from las import convert_model
from las.arch.tiny import tiny_inputs
from las.energy import count_spikes, plot_layers, site_table


def test_layer_figure_is_written_in_both_formats(tiny_llama, tmp_path):
    model, calibration = tiny_llama
    snn = convert_model(model, calibration)
    with count_spikes(snn) as counts, torch.no_grad():
        snn(**tiny_inputs("llama"))
    paths = plot_layers(site_table(counts), tmp_path / "figures" / "energy_layers")
    assert [p.name for p in paths] == ["energy_layers.png", "energy_layers.pdf"]
    assert paths[0].read_bytes().startswith(b"\x89PNG") and paths[1].read_bytes()[:4] == b"%PDF"
