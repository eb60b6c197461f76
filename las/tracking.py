"""The record every stage leaves: ``metrics.json`` first, mirrored to a W&B run (STYLE 14).

:func:`record_stage` writes ``metrics.json`` in the stage's output folder (stage, resolved config,
config hash, the stage's fields, git commit, package versions, and the W&B run that mirrors it),
then logs the same to that run: the config, the scalar part of the record as the run summary
(:func:`summary`), each table as a ``wandb.Table`` and the files as one artifact. Runs are grouped
by experiment (``cfg.experiment``), with the stage as job type.

Modes (``tracking.mode``, overridden by the ``WANDB_MODE`` environment variable): ``offline``
(the default) writes W&B's run files under ``<tracking.dir>/wandb/`` and never touches the
network (``wandb sync`` uploads them later); ``online`` logs to the W&B project (needs an
account); ``disabled`` writes the local record only. W&B never gates a result: a run that cannot
start leaves a warning, and the local record without a run.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from las.modes import ParsedEnum
from las.provenance import provenance

if TYPE_CHECKING:
    import wandb

RESERVED = ("stage", "config", "config_hash", "git_commit", "versions", "wandb")
"""Keys of a record that are not stage fields."""

Scalar = str | int | float | bool | None


class TrackingMode(ParsedEnum):
    """Where the W&B mirror of a record goes."""

    ONLINE = "online"
    OFFLINE = "offline"
    DISABLED = "disabled"

    @classmethod
    def noun(cls) -> str:
        return "tracking mode"


@dataclass(frozen=True)
class TrackingConfig:
    """The ``tracking`` config group.

    Attributes:
        project: W&B project of every run.
        entity: W&B entity (user or team); None: the account's default.
        mode: configured mode; ``WANDB_MODE`` overrides it (:meth:`effective_mode`).
        dir: folder under which W&B writes its ``wandb/`` run folders.
    """

    project: str = "las"
    entity: str | None = None
    mode: TrackingMode = TrackingMode.OFFLINE
    dir: str = "."

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", TrackingMode.parse(self.mode))

    def effective_mode(self) -> TrackingMode:
        """``WANDB_MODE`` when set, else the configured mode."""
        return TrackingMode.parse(os.environ.get("WANDB_MODE") or self.mode)


def is_scalar(value: Any) -> bool:
    """Whether ``value`` is a scalar a run summary and a table cell keep as is."""
    return value is None or isinstance(value, str | int | float | bool)


def summary(record: Mapping[str, Any]) -> dict[str, Scalar]:
    """The scalar part of a record: config hash, git commit and every scalar stage field."""
    head = {"config_hash": record["config_hash"], "git_commit": record.get("git_commit")}
    return head | {k: v for k, v in record.items() if k not in RESERVED and is_scalar(v)}


def record_stage(
    out: Path,
    stage: str,
    cfg: DictConfig,
    digest: str,
    fields: Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame] | None = None,
    artifacts: Iterable[Path] = (),
) -> Path:
    """Write ``out/metrics.json`` and mirror it, ``tables`` and ``artifacts`` to a W&B run.

    ``cfg`` is the stage's composed config: its ``experiment`` names the W&B group and its
    ``tracking`` group (default :class:`TrackingConfig`) the project and mode. ``fields`` are the
    stage's results (JSON-serialisable; the scalar ones become the run summary). Returns the path
    of ``metrics.json``, whose ``wandb`` entry (None when disabled) names the run.
    """
    config = OmegaConf.to_container(cfg, resolve=True)
    record = {"stage": stage, "config": config, "config_hash": digest, **fields} | provenance()
    tracking = TrackingConfig(**config.get("tracking", {}))  # type: ignore[union-attr]
    run = _start_run(tracking, record)
    record["wandb"] = _run_identity(run, tracking)
    path = out / "metrics.json"
    path.write_text(json.dumps(record, indent=2, default=str))
    if run is not None:
        _mirror(run, record, tables or {}, [path, *artifacts])
    return path


def _settings(mode: TrackingMode) -> wandb.Settings:
    """No prompts, no console capture, no system probes: a run is a file writer in a stage."""
    import wandb

    return wandb.Settings(
        mode=mode.value,
        silent=True,
        console="off",
        disable_git=True,
        disable_code=True,
        save_code=False,
        disable_job_creation=True,
        x_disable_stats=True,
        x_disable_meta=True,
        x_disable_machine_info=True,
        reinit="finish_previous",
    )


def _start_run(tracking: TrackingConfig, record: Mapping[str, Any]) -> wandb.Run | None:
    """A W&B run for ``record``, or None when disabled or when W&B refuses to start one."""
    mode = tracking.effective_mode()
    if mode is TrackingMode.DISABLED:
        return None
    import wandb

    config, stage = record["config"], record["stage"]
    model = (config.get("model") or {}).get("name")
    try:
        settings = _settings(mode)
        wandb.setup(settings)  # the process-wide settings too: W&B's own telemetry reads them
        return wandb.init(
            project=tracking.project,
            entity=tracking.entity,
            group=config.get("experiment"),
            job_type=stage,
            name=f"{model}-{stage}-{record['config_hash'][:8]}",
            config=config | {"versions": record["versions"]},
            dir=tracking.dir,
            settings=settings,
        )
    except wandb.Error as error:
        warnings.warn(
            f"W&B run of stage {stage!r} not started ({error}); the local record is complete "
            "(WANDB_MODE=offline records runs for a later `wandb sync`)",
            stacklevel=3,
        )
        return None


def _run_identity(run: wandb.Run | None, tracking: TrackingConfig) -> dict[str, Any] | None:
    """What the local record keeps of its W&B run, to find it again (:mod:`las.records`)."""
    if run is None:
        return None
    return {
        "id": run.id,
        "project": run.project,
        "entity": run.entity or tracking.entity,
        "group": run.group or None,
        "mode": tracking.effective_mode().value,
        "dir": run.settings.sync_dir,
    }


def _mirror(
    run: wandb.Run,
    record: Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame],
    files: list[Path],
) -> None:
    """Log summary, tables and files to ``run`` and finish it."""
    import wandb

    with run:
        scalars = summary(record)
        run.summary.update(scalars)
        if tables:
            run.log({f"tables/{k}": wandb.Table(dataframe=df) for k, df in tables.items()})
        name = re.sub(r"[^\w.-]", "-", run.name or record["stage"])
        artifact = wandb.Artifact(name, type=record["stage"], metadata=scalars)
        for path in files:
            artifact.add_file(str(path))
        run.log_artifact(artifact)
