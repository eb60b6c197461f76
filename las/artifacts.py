"""Stage artifacts: safetensors for tensors, metadata with the model identity and config hash.

A later stage refuses an artifact made for another model, revision or upstream config with
:class:`ArtifactMismatchError`, naming what differs and which stage to rerun.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor


class ArtifactMismatchError(ValueError):
    """An artifact was made for another model, revision or configuration."""


@dataclass(frozen=True)
class Identity:
    """What an artifact was made from: the model (id + revision) and the producing config."""

    model_id: str
    revision: str
    config_hash: str


def write_artifact(
    path: Path, tensors: Mapping[str, Tensor], identity: Identity, meta: Mapping[str, object]
) -> None:
    """Write ``tensors`` with ``identity`` and JSON-encoded ``meta`` as safetensors metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {**asdict(identity), "meta": json.dumps(meta, sort_keys=True)}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=header)
    tmp.replace(path)  # atomic: an interrupted write never leaves a half artifact


def read_artifact(
    path: Path, stage: str, model_id: str | None = None, revision: str | None = None
) -> tuple[dict[str, Tensor], Identity, dict]:
    """Read an artifact of ``stage``; check the model identity when given.

    Raises ``FileNotFoundError`` (missing: run ``stage``), ``ValueError`` (corrupt: delete and
    rerun ``stage``) or :class:`ArtifactMismatchError` (made for another model or revision).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"missing artifact {path}: run the '{stage}' stage first")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"corrupt artifact {path} ({err}): delete it and rerun '{stage}'") from err
    identity = Identity(header["model_id"], header["revision"], header["config_hash"])
    for label, want, got in (
        ("model", model_id, identity.model_id),
        ("revision", revision, identity.revision),
    ):
        if want is not None and want != got:
            raise ArtifactMismatchError(
                f"{path} was made for {label} {got!r}, not {want!r}: rerun '{stage}' for this model"
            )
    return tensors, identity, json.loads(header.get("meta", "{}"))


def check_upstream(identity: Identity, expected_hash: str, path: Path, stage: str) -> None:
    """Raise :class:`ArtifactMismatchError` unless ``identity`` carries ``expected_hash``."""
    if identity.config_hash != expected_hash:
        raise ArtifactMismatchError(
            f"{path} has config hash {identity.config_hash}, expected {expected_hash}: its "
            f"'{stage}' settings changed since; rerun '{stage}'"
        )
