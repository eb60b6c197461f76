"""The stage shell: no finished run overwritten, no half run that looks complete, checks first."""

from __future__ import annotations

import json
import shutil

import pytest

from las.calibrate import CalibrateConfig
from las.config import ConfigError
from las.stage import OutputConflictError, execute, load_config
from tests.stage_chain import compose_stage, run_stage


def test_a_hand_run_never_overwrites_a_finished_run_of_another_config(chain, tmp_path):
    """Failure 2: a hand run with other overrides into the pipeline's folder is refused."""
    folder = tmp_path / "convert"
    shutil.copytree(chain.dir("convert"), folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    overrides = [o for o in chain.overrides("convert") if not o.startswith("output_dir")]
    conflict = r"(?s)finished 'convert' run.*conversion\.T: 16 -> 2.*Nothing was written"
    with pytest.raises(OutputConflictError, match=conflict):
        run_stage("convert", *overrides, "conversion.T=2", f"output_dir={folder}")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    # the same config again is the same run: allowed, and the record is rewritten
    run_stage("convert", *overrides, f"output_dir={folder}")
    assert json.loads((folder / "metrics.json").read_text())["T"] == 16


def test_an_interrupted_run_leaves_no_record_and_keeps_the_finished_one(chain, tmp_path):
    """Failure 8: an interrupted stage leaves nothing that looks complete."""

    def interrupted(cfg, ctx):
        (ctx.work / "thresholds.csv").write_text("half")
        raise KeyboardInterrupt

    fresh = tmp_path / "fresh"
    cfg = load_config(
        CalibrateConfig,
        compose_stage("calibrate", *chain.overrides("calibrate")[:-1], f"output_dir={fresh}"),
    )
    with pytest.raises(KeyboardInterrupt):
        execute(cfg, interrupted)
    assert not (fresh / "metrics.json").exists() and not (fresh / "thresholds.csv").exists()

    finished = tmp_path / "finished"
    shutil.copytree(chain.dir("calibrate"), finished)
    before = {p.name: p.read_bytes() for p in finished.iterdir() if p.is_file()}
    again = load_config(
        CalibrateConfig,
        compose_stage("calibrate", *chain.overrides("calibrate")[:-1], f"output_dir={finished}"),
    )
    with pytest.raises(KeyboardInterrupt):
        execute(again, interrupted)
    assert {p.name: p.read_bytes() for p in finished.iterdir() if p.is_file()} == before


def test_an_invalid_wandb_mode_is_refused_before_any_compute(chain, tmp_path, monkeypatch):
    """Failure 6: WANDB_MODE is checked with the config, not after the compute."""
    monkeypatch.setenv("WANDB_MODE", "onlin")
    cfg = compose_stage("calibrate", *chain.overrides("calibrate")[:-1], f"output_dir={tmp_path}/x")
    with pytest.raises(ConfigError, match="WANDB_MODE: unknown tracking mode 'onlin'"):
        load_config(CalibrateConfig, cfg)
    assert not (tmp_path / "x").exists()
