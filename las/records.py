"""Run records as one table, from the local results store or from W&B (what ``tables`` reads).

A record is what :func:`las.tracking.record_stage` left: ``metrics.json`` in a stage's output
folder, and its mirror in a W&B run (job type = stage, group = experiment, config = resolved
config, summary = :func:`las.tracking.summary`). Both sources give the same frame for the same
runs: one row per stage run, columns :data:`COLUMNS` then every scalar stage field (sorted by
name), rows sorted by experiment, model, stage, config hash and run id. Non-scalar fields (lists,
tables) stay in the files and the W&B tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from las.tracking import is_scalar, summary

COLUMNS = ("stage", "experiment", "model", "config_hash", "git_commit", "run_id")
ORDER = ["experiment", "model", "stage", "config_hash", "run_id"]


@dataclass(frozen=True)
class WandbProject:
    """The runs of one experiment (a W&B group) in a W&B project.

    ``run_ids``: only these runs (None: all of the group).
    """

    project: str
    group: str
    entity: str | None = None
    run_ids: frozenset[str] | None = None

    @property
    def path(self) -> str:
        """``entity/project``, or ``project`` for the API key's default entity."""
        return f"{self.entity}/{self.project}" if self.entity else self.project


def locate(path: str | Path, stage: str) -> tuple[str, str | None]:
    """``(model, sub-folder)`` of a file in ``results/{experiment}/{model}/{stage}/...``.

    The sub-folder is the one right below ``stage`` (a calibration rule, a method), None when the
    file lies in the stage folder itself. Raises ``ValueError`` for a path outside that layout.
    """
    parts = Path(path).parts
    if stage not in parts[1:-1]:
        raise ValueError(
            f"{path} is not in the results store layout "
            f"results/{{experiment}}/{{model}}/{stage}/..."
        )
    i = len(parts) - 1 - parts[::-1].index(stage)
    return parts[i - 1], parts[i + 1] if i + 2 < len(parts) else None


def load_records(
    source: WandbProject | str | Path | Iterable[str | Path], stage: str | None = None
) -> pd.DataFrame:
    """The records of ``source`` (only ``stage``'s when given) as one frame.

    ``source``: a :class:`WandbProject` (read through ``wandb.Api``), a folder of the results store
    (every ``metrics.json`` below it) or ``metrics.json`` paths (a stage's declared inputs).
    """
    if isinstance(source, WandbProject):
        rows = wandb_rows(source, stage)
    else:
        folder = isinstance(source, str | Path)
        paths = sorted(Path(source).rglob("metrics.json")) if folder else source
        rows = (local_row(json.loads(Path(p).read_text())) for p in paths)
    return records_frame(row for row in rows if stage is None or row["stage"] == stage)


def mirrored_records(paths: Iterable[str | Path], stage: str | None = None) -> pd.DataFrame:
    """The W&B copies of the runs recorded at ``paths``, read through ``wandb.Api``.

    Each local record names its run (:func:`las.tracking.record_stage`); a record without one
    (tracking disabled) or a run missing from W&B (an offline run not synced yet) is an error.
    """
    runs = {str(p): json.loads(Path(p).read_text()).get("wandb") for p in paths}
    if unmirrored := [p for p, run in runs.items() if run is None]:
        raise LookupError(
            f"no W&B run recorded in {unmirrored} (tracking was disabled); "
            "build the tables from the local records (WANDB_MODE unset or offline)"
        )
    rows = [row for source in _projects(runs.values()) for row in wandb_rows(source, stage)]
    if missing := sorted({run["id"] for run in runs.values()} - {r["run_id"] for r in rows}):
        raise LookupError(
            f"W&B has no runs {missing}; upload offline runs first: wandb sync wandb/offline-run-*"
        )
    return records_frame(rows)


def _projects(runs: Iterable[Mapping[str, Any]]) -> list[WandbProject]:
    """One :class:`WandbProject` per project and group of ``runs``, limited to their ids."""
    ids: dict[tuple[str, str, str | None], set[str]] = {}
    for run in runs:
        ids.setdefault((run["project"], run["group"], run["entity"]), set()).add(run["id"])
    return [WandbProject(*key, run_ids=frozenset(v)) for key, v in sorted(ids.items(), key=str)]


def local_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """The row of one local record (a parsed ``metrics.json``)."""
    config, run = record["config"], record.get("wandb") or {}
    return _row(record["stage"], config.get("experiment"), config, run.get("id"), summary(record))


def wandb_rows(source: WandbProject, stage: str | None = None) -> Iterator[dict[str, Any]]:
    """The rows of the W&B runs of ``source`` (``job_type == stage`` when given)."""
    import wandb

    filters: dict[str, Any] = {"group": source.group}
    if stage is not None:
        filters["jobType"] = stage
    for run in wandb.Api().runs(source.path, filters=filters, lazy=False):
        if source.run_ids is None or run.id in source.run_ids:
            yield _row(run.job_type, run.group, run.config, run.id, run.summary_metrics)


def _row(
    stage: str,
    experiment: str | None,
    config: Mapping[str, Any],
    run_id: str | None,
    scalars: Mapping[str, Any],
) -> dict[str, Any]:
    """One row: run identity, then the scalar fields of ``scalars`` (W&B keys ``_*`` dropped)."""
    model = (config.get("model") or {}).get("name")
    fields = {k: v for k, v in scalars.items() if not k.startswith("_") and is_scalar(v)}
    return {"stage": stage, "experiment": experiment, "model": model, "run_id": run_id} | fields


def records_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as a frame in the canonical column and row order of this module."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    fields = sorted(set(frame.columns) - set(COLUMNS))
    frame = frame.reindex(columns=[*COLUMNS, *fields])
    return frame.sort_values(ORDER, na_position="last", kind="stable").reset_index(drop=True)
