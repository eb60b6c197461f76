"""Stage ``evaluate``: the record and its labels come from the converted folder; sweeps work."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from las import tables
from las.artifacts import ArtifactMismatchError
from tests.stage_chain import run_stage


def test_fidelity_record_is_complete(chain):
    row = pd.read_csv(chain.dir("evaluate") / "fidelity.csv").iloc[0]
    assert row["tokens"] == 2 * 31 and row["T"] == 16
    assert row["calibration"] == "mse" and row["ablation"] == "full"
    assert 0.99 < row["perplexity_ratio"] < 1.01 and row["top1_agreement"] >= 0.95
    spikes = pd.read_csv(chain.dir("evaluate") / "spikes.csv")
    assert (spikes["spikes"] > 0).any() and (spikes["firing_rate"] <= 1).all()
    convert = json.loads((chain.dir("convert") / "metrics.json").read_text())
    assert row["thresholds_hash"] == convert["thresholds_hash"]


def test_evaluation_text_must_be_split_as_calibration_text_was(chain, tmp_path):
    overrides = [o for o in chain.overrides("evaluate") if not o.startswith("output_dir")]
    with pytest.raises(
        ArtifactMismatchError, match=r"collect data.seed = 0.*has 1.*rerun 'collect'"
    ):
        run_stage("evaluate", *overrides, "data.seed=1", f"output_dir={tmp_path}/e")


def test_multirun_sweep_records_feed_the_tables(chain, tmp_path):
    """A Hydra sweep of ablations: convert -m, then evaluate each folder, then the tables."""
    sweep = tmp_path / "multirun"
    command = [
        sys.executable,
        "-m",
        "las.convert",
        "-m",
        *[o for o in chain.overrides("convert") if not o.startswith("output_dir")],
        "ablation=T4,T8",
        f"output_dir={sweep}/convert/" + "${hydra:job.override_dirname}",
        f"hydra.sweep.dir={tmp_path / 'hydra'}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    folders = sorted((sweep / "convert").glob("*/converted.json"))
    assert [f.parent.name.split(",")[0] for f in folders] == ["ablation=T4", "ablation=T8"]
    records = []
    for i, folder in enumerate(folders):
        out = sweep / "evaluate" / str(i)
        base = [
            o
            for o in chain.overrides("evaluate")
            if o.split("=")[0] not in ("converted", "output_dir")
        ]
        run_stage("evaluate", *base, f"converted='{folder.parent}'", f"output_dir={out}")
        records.append(out / "metrics.json")
    tables.main(["--out", str(tmp_path / "reports"), *map(str, records)])
    ablations = pd.read_csv(tmp_path / "reports" / "ablations.csv").set_index("ablation")
    assert ablations.loc["T4", "T"] == 4 and ablations.loc["T8", "T"] == 8
    for path in records:
        record = json.loads(path.read_text())
        assert ablations.loc[record["ablation"], "top1_agreement"] == record["top1_agreement"]


def test_baselines_are_evaluated_by_the_same_stage(baselines, chain, tmp_path):
    overrides = [o for o in chain.overrides("evaluate") if not o.startswith(("output", "conv"))]
    for method in ("fas", "naive"):
        folder = baselines.dir(f"convert_{method}")
        out = run_stage(
            "evaluate", *overrides, f"converted={folder}", f"output_dir={tmp_path / method}"
        )
        row = pd.read_csv(out / "fidelity.csv").iloc[0]
        assert row["method"] == method and row["T"] == 4 and row["calibration"] == method
        assert 0 < row["energy_ratio"] < 1.5 and row["top1_agreement"] > 0
        assert isinstance(row["spiking_parts"], str)


def test_the_float_attention_ablation_is_evaluated_with_its_energy(chain, tmp_path):
    """``no_spike_attention`` keeps the model's float attention: the ledger prices it (layer type
    ``attention_float``, the same work on both sides) instead of refusing its operations."""
    convert = [o for o in chain.overrides("convert") if not o.startswith("output_dir")]
    folder = run_stage("convert", *convert, "ablation=no_spike_attention", f"output_dir={tmp_path}")
    base = [
        o for o in chain.overrides("evaluate") if o.split("=")[0] not in ("converted", "output_dir")
    ]
    out = run_stage("evaluate", *base, f"converted={folder}", f"output_dir={tmp_path / 'e'}")
    row = pd.read_csv(out / "fidelity.csv").iloc[0]
    assert row["ablation"] == "no_spike_attention" and not row["spike_attention"]
    assert 0 < row["energy_ratio"] < 1.5 and row["top1_agreement"] > 0.9
    spikes = pd.read_csv(out / "spikes.csv")
    floats = spikes[spikes["layer_type"] == "attention_float"]
    assert len(floats) == 2 and (floats["ann_macs"] > 0).all()  # one per block of the tiny LLaMA
    assert (floats["snn_macs"] == floats["ann_macs"]).all() and (floats["energy_ratio"] == 1).all()
    assert not spikes["layer_type"].isin(["qk", "pv", "softmax"]).any()
    record = json.loads((out / "metrics.json").read_text())
    assert record["energy_ratio"] == pytest.approx(row["energy_ratio"])
