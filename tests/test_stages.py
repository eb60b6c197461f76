"""Stage entry points on a tiny model through Hydra's compose API: outputs, identities, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from las import calibrate, collect, download, evaluate, fit_hg
from las.artifacts import ArtifactMismatchError

CONF = str(Path(__file__).resolve().parent.parent / "conf")
SMALL_DATA = [
    "data.seq_len=32",
    "data.calib_sequences=4",
    "data.eval_sequences=2",
    "data.batch_size=2",
]


def config(name: str, *overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Run download -> collect -> calibrate -> fit_hg -> evaluate for tiny_llama."""
    root = tmp_path_factory.mktemp("chain")
    model = "model=tiny_llama"
    out = {s: root / s for s in ("download", "collect", "calibrate", "fit_hg", "evaluate")}
    download.run(config("download", model, f"output_dir={out['download']}"))
    collect.run(config("collect", model, *SMALL_DATA, f"output_dir={out['collect']}"))
    stats = f"stats={out['collect'] / 'stats.safetensors'}"
    calibrate.run(config("calibrate", model, stats, f"output_dir={out['calibrate']}"))
    fit_hg.run(config("fit_hg", model, stats, f"output_dir={out['fit_hg']}"))
    evaluate.run(
        config(
            "evaluate",
            model,
            *SMALL_DATA,
            f"output_dir={out['evaluate']}",
            f"thresholds={out['calibrate'] / 'thresholds.safetensors'}",
            f"bank={out['fit_hg'] / 'hg_bank.safetensors'}",
        )
    )
    return out


def test_every_stage_writes_its_declared_outputs(chain):
    expected = {
        "download": ["manifest.json"],
        "collect": ["stats.safetensors", "sites.csv", "metrics.json"],
        "calibrate": ["thresholds.safetensors", "thresholds.csv", "metrics.json"],
        "fit_hg": ["hg_bank.safetensors", "hg_errors.csv", "hg_sample_errors.csv", "metrics.json"],
        "evaluate": ["fidelity.csv", "spikes.csv", "metrics.json"],
    }
    for stage, files in expected.items():
        for name in files:
            assert (chain[stage] / name).exists(), f"{stage}/{name}"
    metrics = json.loads((chain["evaluate"] / "metrics.json").read_text())
    assert metrics["model_id"] == "tiny-llama" and metrics["git_commit"] is not None
    assert metrics["versions"]["torch"].startswith("2.13")


def test_thresholds_cover_every_oat_site(chain):
    sites = pd.read_csv(chain["collect"] / "sites.csv")
    thresholds = pd.read_csv(chain["calibrate"] / "thresholds.csv")
    assert set(thresholds["site"]) == set(sites.loc[sites["kind"] == "oat", "site"])
    assert (thresholds["theta_nor"] < thresholds["theta_out"]).all()


def test_fidelity_record_is_complete(chain):
    row = pd.read_csv(chain["evaluate"] / "fidelity.csv").iloc[0]
    assert row["tokens"] == 2 * 31 and row["T"] == 16
    assert 0.99 < row["perplexity_ratio"] < 1.01 and row["top1_agreement"] >= 0.95
    spikes = pd.read_csv(chain["evaluate"] / "spikes.csv")
    assert (spikes["spikes"] > 0).any() and (spikes["firing_rate"] <= 1).all()


def test_artifacts_of_another_model_are_refused(chain, tmp_path):
    stats = f"stats={chain['collect'] / 'stats.safetensors'}"
    with pytest.raises(ArtifactMismatchError, match="made for model 'tiny-llama'"):
        calibrate.run(config("calibrate", "model=tiny_gpt2", stats, f"output_dir={tmp_path}"))


def test_missing_artifact_names_the_stage(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the 'collect' stage"):
        calibrate.run(
            config(
                "calibrate",
                "model=tiny_llama",
                f"stats={tmp_path}/none.safetensors",
                f"output_dir={tmp_path}",
            )
        )


def test_multirun_sweep_records_feed_the_tables(chain, tmp_path):
    import subprocess
    import sys

    from las import tables

    sweep = tmp_path / "multirun"
    command = [
        sys.executable,
        "-m",
        "las.evaluate",
        "-m",
        "model=tiny_llama",
        "ablation=T4,T8",
        "tracking=disabled",
        *SMALL_DATA,
        f"thresholds={chain['calibrate'] / 'thresholds.safetensors'}",
        f"bank={chain['fit_hg'] / 'hg_bank.safetensors'}",
        f"output_dir={sweep}/" + "${hydra:job.override_dirname}",
        f"hydra.sweep.dir={tmp_path / 'hydra'}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    records = sorted(sweep.glob("*/metrics.json"))
    assert len(records) == 2
    tables.main(["--out", str(tmp_path / "reports"), *map(str, records)])
    ablations = pd.read_csv(tmp_path / "reports" / "ablations.csv").set_index("ablation")
    assert ablations.loc["T4", "T"] == 4 and ablations.loc["T8", "T"] == 8
    for path in records:
        record = json.loads(path.read_text())
        assert ablations.loc[record["ablation"], "top1_agreement"] == record["top1_agreement"]


def test_vqa_stage_compares_a_converted_vlm(tmp_path):
    from las import evaluate_vqa

    out = evaluate_vqa.run(
        config(
            "evaluate_vqa",
            "vlm=qwen2_vl",
            "eval_batches=2",
            "tracking=disabled",
            f"output_dir={tmp_path}",
        )
    )
    (row,) = pd.read_csv(out / "vqa.csv").to_dict("records")
    assert row["weights"] == "tiny-random" and row["items"] == 6
    assert row["answer_top1_agreement"] >= 0.9 and row["logits_rel_error"] < 1e-2
    assert json.loads((out / "metrics.json").read_text())["stage"] == "evaluate_vqa"
    with pytest.raises(ValueError, match="unknown tiny VLM 'vit'"):
        evaluate_vqa.run(config("evaluate_vqa", "vlm=vit", f"output_dir={tmp_path}"))
