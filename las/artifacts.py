"""Stage artifacts: safetensors for tensors, metadata with the model identity and provenance.

An artifact's :class:`Identity` names the model (id + revision), the hash of the config that
made it and its **lineage**: for the stage that made it and every stage upstream of it, that
stage's config hash and typed config (paths left out). A later stage checks an input against the
config it is given (:func:`check_lineage`) and refuses, naming the stage to rerun, an artifact
made for another model, revision or upstream config (:class:`ArtifactMismatchError`), and two
inputs made from different runs of the same upstream stage (:func:`merge_lineages`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

#: Lineage: stage name -> {"config_hash": ..., "config": plain typed config of that stage}.
Lineage = dict[str, dict[str, Any]]


class ArtifactMismatchError(ValueError):
    """An artifact was made for another model, revision or configuration."""


@dataclass(frozen=True)
class Identity:
    """What an artifact was made from: the model (id + revision), the config and its lineage."""

    model_id: str
    revision: str
    config_hash: str
    lineage: Lineage = field(default_factory=dict)

    def header(self) -> dict[str, str]:
        """The identity as string metadata (safetensors headers, JSON files)."""
        return {
            "model_id": self.model_id,
            "revision": self.revision,
            "config_hash": self.config_hash,
            "lineage": json.dumps(self.lineage, sort_keys=True),
        }

    @classmethod
    def from_header(cls, header: Mapping[str, str], path: Path, stage: str) -> Identity:
        """Parse :meth:`header` output; ``ValueError`` naming ``path`` and ``stage`` if absent."""
        try:
            lineage = json.loads(header.get("lineage", "{}"))
            return cls(header["model_id"], header["revision"], header["config_hash"], lineage)
        except (KeyError, TypeError, json.JSONDecodeError) as err:
            raise ValueError(
                f"{path} carries no valid identity ({err!r}): it was not written by the '{stage}' "
                f"stage of this version; delete it and rerun '{stage}'"
            ) from err


def write_artifact(
    path: Path, tensors: Mapping[str, Tensor], identity: Identity, meta: Mapping[str, object]
) -> None:
    """Write ``tensors`` with ``identity`` and JSON-encoded ``meta`` as safetensors metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {**identity.header(), "meta": json.dumps(meta, sort_keys=True)}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=header)
    tmp.replace(path)  # atomic: an interrupted write never leaves a half artifact


def _missing(path: Path, stage: str) -> FileNotFoundError:
    return FileNotFoundError(f"missing artifact {path}: run the '{stage}' stage first")


def read_identity(path: Path, stage: str) -> Identity:
    """The identity of the artifact at ``path`` (tensors not read): safetensors or a JSON file.

    Raises ``FileNotFoundError`` (missing: run ``stage``) or ``ValueError`` (corrupt: delete
    and rerun ``stage``).
    """
    path = Path(path)
    if not path.exists():
        raise _missing(path, stage)
    try:
        if path.suffix == ".json":
            header = json.loads(path.read_text())["identity"]
        else:
            with safe_open(str(path), framework="pt") as handle:
                header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"corrupt artifact {path} ({err}): delete it and rerun '{stage}'") from err
    return Identity.from_header(header, path, stage)


def read_artifact(
    path: Path, stage: str, model_id: str | None = None, revision: str | None = None
) -> tuple[dict[str, Tensor], Identity, dict]:
    """Read an artifact of ``stage``; check the model identity when given.

    Raises ``FileNotFoundError`` (missing: run ``stage``), ``ValueError`` (corrupt: delete and
    rerun ``stage``) or :class:`ArtifactMismatchError` (made for another model or revision).
    """
    path = Path(path)
    identity = read_identity(path, stage)
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads((handle.metadata() or {}).get("meta", "{}"))
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"corrupt artifact {path} ({err}): delete it and rerun '{stage}'") from err
    check_model(identity, path, stage, model_id, revision)
    return tensors, identity, meta


def check_model(
    identity: Identity, path: Path, stage: str, model_id: str | None, revision: str | None
) -> None:
    """Raise :class:`ArtifactMismatchError` unless ``identity`` is of ``model_id``/``revision``."""
    for label, want, got in (
        ("model", model_id, identity.model_id),
        ("revision", revision, identity.revision),
    ):
        if want is not None and want != got:
            raise ArtifactMismatchError(
                f"{path} was made for {label} {got!r}, not {want!r}: rerun '{stage}' for this model"
            )


def lookup(config: Mapping[str, Any], dotted: str) -> Any:
    """``config[a][b]...`` for ``dotted = "a.b..."``; a missing key gives ``KeyError``."""
    value: Any = config
    for part in dotted.split("."):
        value = value[part]
    return value


def check_lineage(
    identity: Identity, path: Path, expect: Mapping[str, Any], stage_to_rerun: str
) -> None:
    """Refuse an artifact whose lineage disagrees with ``expect``.

    ``expect`` maps ``"<stage>.<key>[.<key>...]"`` (a stage of the lineage and a key of its
    config) to the plain value the consuming config requires. Raises
    :class:`ArtifactMismatchError` naming the key, both values and the stage to rerun.
    """
    for dotted, want in expect.items():
        stage, key = dotted.split(".", 1)
        if stage not in identity.lineage:
            raise ArtifactMismatchError(
                f"{path} has no '{stage}' stage in its lineage ({sorted(identity.lineage)}): it "
                f"was not made by this pipeline; rerun '{stage_to_rerun}'"
            )
        try:
            got = lookup(identity.lineage[stage]["config"], key)
        except (KeyError, TypeError):
            got = None
        if got != want:
            raise ArtifactMismatchError(
                f"{path} was made with {stage} {key} = {json.dumps(got)}, but this config has "
                f"{json.dumps(want)}: rerun '{stage}' (and what follows) with this config, or "
                f"give the matching setting here"
            )


def merge_lineages(inputs: Iterable[tuple[Path, Identity]]) -> Lineage:
    """One lineage of several inputs; refuse two that come from different runs of one stage."""
    merged: Lineage = {}
    seen: dict[str, Path] = {}
    for path, identity in inputs:
        for stage, entry in identity.lineage.items():
            if stage in merged and merged[stage]["config_hash"] != entry["config_hash"]:
                raise ArtifactMismatchError(
                    f"{seen[stage]} and {path} come from different '{stage}' runs (config hash "
                    f"{merged[stage]['config_hash']} vs {entry['config_hash']}): rerun what "
                    f"follows '{stage}' from one run"
                )
            merged.setdefault(stage, entry)
            seen.setdefault(stage, path)
    return merged
