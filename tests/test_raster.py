"""Stage ``raster``: the raster is drawn from the trains spike mode ran, one panel per site kind."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
import torch

from las import ConversionConfig, convert_model, figures
from las.arch.tiny import tiny_inputs, tiny_model
from las.calibration import calibrate_model
from las.modes import Mode
from las.neurons import MTNeuron
from las.neurons.record import raster_events, record_trains
from tests.stage_chain import SMALL_DATA, run_stage


@pytest.fixture(scope="module")
def spiking():
    """A tiny LLaMA converted with the signed-digit code (spikes of both signs), spike mode."""
    torch.manual_seed(0)
    model = tiny_model("llama", torch.float64)
    batch = tiny_inputs("llama", seed=0)
    calibration, _ = calibrate_model(model, [batch])
    snn = convert_model(model, calibration, ConversionConfig(T=8, code="naf", mode=Mode.SPIKE))
    return snn, batch


def test_the_record_holds_the_trains_spike_mode_ran_and_changes_nothing(spiking):
    snn, batch = spiking
    with torch.inference_mode():
        plain = snn(**batch).logits
        with record_trains(snn, "model.layers.0.") as trains:
            recorded = snn(**batch).logits
    assert torch.equal(plain, recorded)
    assert all(name.startswith("model.layers.0.") for name in trains)
    bit_serial = 0
    for name, calls in trains.items():
        assert calls, name  # every neuron of the block ran
        for train in calls:
            neuron = train.neuron
            assert train.outputs.shape == train.fired.shape == (neuron.steps, *train.x.shape)
            fast = copy.copy(neuron)
            fast.mode = Mode.FAST
            # the train sums to the neuron's value and fires its closed form's count
            torch.testing.assert_close(train.outputs.sum(0), fast(train.x).double())
            if isinstance(neuron, MTNeuron):
                bit_serial += 1
                assert int(train.fired.sum()) == int(neuron.count(train.x).sum()), name
                assert torch.equal(train.fired, train.outputs != 0)  # a spike is a weighted event
    assert bit_serial >= 10
    assert not any("simulate" in vars(m) for m in snn.modules())  # the wrappers are gone
    with (
        pytest.raises(ValueError, match="no spiking neuron"),
        record_trains(snn, "model.layers.9."),
    ):
        pass


def test_events_are_the_nonzero_steps_of_the_window(spiking):
    snn, batch = spiking
    with record_trains(snn, "model.layers.0.") as trains, torch.inference_mode():
        snn(**batch)
    events = raster_events(trains, "model.layers.0.", tokens=3, channels=5)
    assert (events["token"] < 3).all() and (events["channel"] < 5).all()
    assert set(events["sign"]) == {-1, 1}  # the signed-digit code fires both signs
    up = trains["model.layers.0.mlp.neurons.up"][0]
    window = up.outputs[:, 0, :3, :5]
    mine = events[events["kind"] == "mlp.up"]
    assert len(mine) == int(up.fired[:, 0, :3, :5].sum()) > 0
    for row in mine.itertuples():
        value = window[row.step - up.first_step, row.token, row.channel]
        assert value != 0 and torch.sign(value) == row.sign
    assert "self_attn.las_core.exp" in set(events["kind"])


def test_the_stage_writes_the_raster_and_the_figure_draws_one_panel_per_kind(chain, tmp_path):
    out = tmp_path / "results" / "exp" / "tiny_llama" / "raster" / "mse" / "full"
    folder = run_stage(
        "raster",
        chain.model,
        "tracking=disabled",
        *SMALL_DATA,
        f"converted={chain.dir('convert')}",
        "tokens=3",
        "channels=4",
        f"output_dir={out}",
    )
    record = json.loads((folder / "metrics.json").read_text())
    assert record["trains_match_counts"] is True and record["tokens"] == 3
    events = pd.read_csv(folder / "raster.csv")
    sites = pd.read_csv(folder / "sites.csv")
    assert len(events) == record["events"] > 0 and record["kinds"] == len(sites)
    bit_serial = sites[sites["bit_serial"]]
    assert (bit_serial["train_spikes"] == bit_serial["closed_form_spikes"]).all()
    assert list(dict.fromkeys(events["kind"])) == [
        k for k in sites["kind"] if k in set(events["kind"])
    ]
    drawn = [p for p in figures.plots([], [], [], rasters=[folder / "raster.csv"]) if len(p.data)]
    (plot,) = drawn  # the only figure with data
    assert plot.name == "raster_tiny_llama"
    pd.testing.assert_frame_equal(plot.data, events)
    paths = figures.write_figures([plot], tmp_path / "reports")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
