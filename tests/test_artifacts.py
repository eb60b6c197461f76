"""Artifacts round-trip; a mismatched, corrupt or missing artifact is refused with the fix."""

from __future__ import annotations

import pytest
import torch

from las.artifacts import (
    ArtifactMismatchError,
    Identity,
    check_upstream,
    read_artifact,
    write_artifact,
)

IDENTITY = Identity("smollm2-135m", "sha256:abc", "0123456789abcdef")


def test_round_trip(tmp_path):
    tensors = {"a.theta_nor": torch.tensor([0.5]), "a.theta_out": torch.tensor([4.0])}
    path = tmp_path / "thresholds.safetensors"
    write_artifact(path, tensors, IDENTITY, {"rule": "mse"})
    loaded, identity, meta = read_artifact(path, "calibrate", "smollm2-135m", "sha256:abc")
    assert identity == IDENTITY and meta == {"rule": "mse"}
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())
    assert not list(tmp_path.glob("*.tmp"))


def test_other_model_is_refused(tmp_path):
    path = tmp_path / "t.safetensors"
    write_artifact(path, {"x": torch.zeros(1)}, IDENTITY, {})
    with pytest.raises(
        ArtifactMismatchError, match=r"made for model 'smollm2-135m'.*rerun 'calibrate'"
    ):
        read_artifact(path, "calibrate", model_id="minilm-l6-v2")
    with pytest.raises(ArtifactMismatchError, match="revision"):
        read_artifact(path, "calibrate", revision="sha256:other")


def test_changed_upstream_config_is_refused(tmp_path):
    with pytest.raises(ArtifactMismatchError, match="rerun 'collect'"):
        check_upstream(IDENTITY, "ffffffffffffffff", tmp_path / "s.safetensors", "collect")


def test_corrupt_and_missing_artifacts_name_the_fix(tmp_path):
    path = tmp_path / "stats.safetensors"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match=r"corrupt artifact .* rerun 'collect'"):
        read_artifact(path, "collect")
    with pytest.raises(FileNotFoundError, match="run the 'collect' stage"):
        read_artifact(tmp_path / "none.safetensors", "collect")
