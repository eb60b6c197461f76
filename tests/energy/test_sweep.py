"""Threshold-scale sweep: energy and fidelity per scale on the same batches."""

from __future__ import annotations

import math

import pytest

from las.arch.tiny import tiny_inputs
from las.energy import threshold_sweep


def test_sweep_trades_spikes_for_fidelity(tiny_llama):
    model, calibration = tiny_llama
    batches = [tiny_inputs("llama", seed=9)]
    table = threshold_sweep(model, calibration, batches, [0.5, 1.0, 2.0]).set_index(
        "threshold_scale"
    )
    assert list(table.index) == [0.5, 1.0, 2.0]
    assert all(math.isfinite(r) and r > 0 for r in table["energy_ratio"])
    # Larger thresholds: shorter codes, fewer spikes; smaller ones clip the largest activations.
    assert table.loc[2.0, "firing_rate"] < table.loc[1.0, "firing_rate"]
    assert table.loc[2.0, "energy_ratio"] < table.loc[0.5, "energy_ratio"]
    error = table["logits_rel_error"]
    assert error[1.0] < error[0.5] and error[1.0] < error[2.0]
    assert table["tokens"].nunique() == 1


def test_empty_sweep_is_refused(tiny_llama):
    model, calibration = tiny_llama
    with pytest.raises(ValueError, match="at least one threshold scale"):
        threshold_sweep(model, calibration, [tiny_inputs("llama")], [])
