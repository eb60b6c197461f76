"""Stage ``finetune_qcfs`` (FAS Stage 1, M9): trains every weight and lam; resumes; refuses."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from las.config import ConfigError
from las.fas.qcfs import QCFS, load_qcfs_model
from las.models import ModelSpec, load
from tests.stage_chain import run_stage


def test_weights_and_clips_are_trained_and_load_back(baselines):
    out = baselines.dir("finetune_qcfs")
    curve = pd.read_csv(out / "loss_curve.csv")
    assert list(curve["step"]) == [1, 2, 3] and curve["loss"].notna().all()
    record = json.loads((out / "metrics.json").read_text())
    assert record["steps"] == 3 and record["tokens_trained"] == 3 * 2 * 32
    assert record["qcfs_replaces"] == "the gate's activation (gated FFN)"
    original = load(ModelSpec(name="tiny_llama", source="tiny", id="llama")).model
    tuned = load(ModelSpec(name="tiny_llama", source="tiny", id="llama")).model
    sites, identity = load_qcfs_model(tuned, out / "weights.safetensors", "tiny-llama", "seed0")
    assert identity.lineage["finetune_qcfs"]["config"]["finetune"]["steps"] == 3
    assert all(isinstance(tuned.get_submodule(name), QCFS) for name in sites)
    lams = pd.read_csv(out / "qcfs_sites.csv")
    assert (lams["lam"] != lams["lam_initial"]).all()
    weight = "model.layers.0.mlp.up_proj.weight"
    assert not torch.equal(tuned.state_dict()[weight], original.state_dict()[weight])
    assert not any(out.glob(".finetune_qcfs-*.ckpt"))  # the checkpoint is gone once done


def test_an_interrupted_run_resumes_from_its_checkpoint(baselines, tmp_path, monkeypatch):
    overrides = [o for o in baselines.overrides("finetune_qcfs") if not o.startswith("output_")]
    calls = {"n": 0}
    real_step = torch.optim.AdamW.step

    def failing_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("interrupted")
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", failing_step)
    with pytest.raises(KeyboardInterrupt):
        run_stage("finetune_qcfs", *overrides, f"output_dir={tmp_path}")
    assert len(list(tmp_path.glob(".finetune_qcfs-*.ckpt"))) == 1
    assert not (tmp_path / "metrics.json").exists()
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)
    run_stage("finetune_qcfs", *overrides, f"output_dir={tmp_path}")
    resumed = pd.read_csv(tmp_path / "loss_curve.csv")
    straight = pd.read_csv(baselines.dir("finetune_qcfs") / "loss_curve.csv")
    pd.testing.assert_frame_equal(resumed, straight, rtol=1e-5)
    assert not any(tmp_path.glob(".finetune_qcfs-*.ckpt"))


def test_an_encoder_is_refused_before_any_compute(tmp_path):
    with pytest.raises(ConfigError, match="causal LMs"):
        run_stage("finetune_qcfs", "model=tiny_bert", f"output_dir={tmp_path}/b")
