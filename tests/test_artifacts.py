"""Artifacts round-trip; a mismatched, corrupt or missing artifact is refused with the fix."""

from __future__ import annotations

import pytest
import torch

from las.artifacts import (
    ArtifactMismatchError,
    Identity,
    check_lineage,
    merge_lineages,
    read_artifact,
    read_identity,
    write_artifact,
)

LINEAGE = {
    "collect": {"config_hash": "aaaa", "config": {"model": {"name": "smollm2_135m"}}},
    "calibrate": {"config_hash": "bbbb", "config": {"calibration": {"name": "mse", "q": 0.99}}},
}
IDENTITY = Identity("smollm2-135m", "sha256:abc", "0123456789abcdef", LINEAGE)


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


def test_lineage_round_trips_without_reading_tensors(tmp_path):
    path = tmp_path / "t.safetensors"
    write_artifact(path, {"x": torch.zeros(1)}, IDENTITY, {})
    assert read_identity(path, "calibrate") == IDENTITY


def test_changed_upstream_config_is_refused(tmp_path):
    path = tmp_path / "t.safetensors"
    check_lineage(IDENTITY, path, {"calibrate.calibration.name": "mse"}, "calibrate")
    with pytest.raises(
        ArtifactMismatchError, match=r"calibrate calibration.q = 0.99, .* has 0.95: rerun"
    ):
        check_lineage(IDENTITY, path, {"calibrate.calibration.q": 0.95}, "calibrate")
    with pytest.raises(ArtifactMismatchError, match="no 'fit_hg' stage in its lineage"):
        check_lineage(IDENTITY, path, {"fit_hg.model": {}}, "fit_hg")


def test_inputs_from_different_upstream_runs_are_refused(tmp_path):
    other = Identity("m", "r", "c", {"collect": {"config_hash": "cccc", "config": {}}})
    same = Identity("m", "r", "d", {"collect": LINEAGE["collect"], "fit_hg": LINEAGE["collect"]})
    merged = merge_lineages([(tmp_path / "a", IDENTITY), (tmp_path / "b", same)])
    assert set(merged) == {"collect", "calibrate", "fit_hg"}
    with pytest.raises(ArtifactMismatchError, match="different 'collect' runs"):
        merge_lineages([(tmp_path / "a", IDENTITY), (tmp_path / "b", other)])


def test_corrupt_and_missing_artifacts_name_the_fix(tmp_path):
    path = tmp_path / "stats.safetensors"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match=r"corrupt artifact .* rerun 'collect'"):
        read_artifact(path, "collect")
    with pytest.raises(FileNotFoundError, match="run the 'collect' stage"):
        read_artifact(tmp_path / "none.safetensors", "collect")
