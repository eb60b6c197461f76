"""Stage ``calibrate_fas`` (FAS Stage 2, M9): per-channel IF parameters that align better."""

from __future__ import annotations

import json

import pytest

from las.artifacts import ArtifactMismatchError, read_artifact
from tests.stage_chain import run_stage


def test_alignment_loss_on_held_out_text_is_lower_after_calibration(baselines):
    record = json.loads((baselines.dir("calibrate_fas") / "metrics.json").read_text())
    assert record["T"] == 4 and record["granularity"].startswith("per channel")
    assert record["held_out_loss_after"] < record["held_out_loss_before"]
    assert record["held_out_mse_after"] < record["held_out_mse_before"]


def test_parameters_are_per_channel_with_initial_potentials_below_theta(baselines):
    path = baselines.dir("calibrate_fas") / "fas.safetensors"
    tensors, identity, meta = read_artifact(path, "calibrate_fas", "tiny-llama", "seed0")
    assert meta == {"T": 4, "levels": 8, "granularity": "channel"}
    assert "finetune_qcfs" in identity.lineage
    theta = tensors["model.layers.0.mlp.act_fn.theta"]
    initial = tensors["model.layers.0.mlp.act_fn.initial"]
    assert theta.shape == initial.shape == (64,) and (theta > 0).all()
    assert ((initial >= 0) & (initial < 1)).all()


def test_at_T_equal_to_L_the_student_starts_equal_to_the_teacher(baselines, tmp_path):
    overrides = [o for o in baselines.overrides("calibrate_fas") if not o.startswith("output_")]
    out = run_stage("calibrate_fas", *overrides, "conversion.T=8", f"output_dir={tmp_path}")
    record = json.loads((out / "metrics.json").read_text())
    assert record["held_out_loss_before"] == 0.0
    assert record["held_out_loss_after"] == 0.0  # a phase that does not help is undone


def test_weights_of_another_model_are_refused(baselines, tmp_path):
    overrides = [o for o in baselines.overrides("calibrate_fas") if o.startswith("weights")]
    with pytest.raises(ArtifactMismatchError, match="rerun 'finetune_qcfs'"):
        run_stage("calibrate_fas", "model=tiny_gpt2", *overrides, f"output_dir={tmp_path}/g")
