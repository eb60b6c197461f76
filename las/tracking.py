"""The record every stage leaves: ``metrics.json`` first, mirrored to a W&B run (STYLE 14).

:func:`record_stage` writes ``metrics.json`` in the stage's output folder (stage, resolved config,
config hash, the stage's fields, git commit, package versions, the platform, and the W&B run that
mirrors it), then logs the same to that run: the config, the scalar part of the record as the run
summary (:func:`summary`), each table as a ``wandb.Table`` and the files as one artifact. Runs are
grouped by experiment (``cfg.experiment``), with the stage as job type.

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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
from pydantic import BeforeValidator

from las.config import PositiveFloat, Str, typed
from las.modes import ParsedEnum
from las.provenance import provenance

if TYPE_CHECKING:
    import wandb

RESERVED = (
    "stage",
    "config",
    "config_hash",
    "git_commit",
    "versions",
    "platform",
    "wandb",
    "identity_config",
    "inputs",
)
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


TrackingModeField = Annotated[TrackingMode, BeforeValidator(TrackingMode.parse)]


@typed
class TrackingConfig:
    """The ``tracking`` config group.

    Attributes:
        project: W&B project of every run.
        entity: W&B entity (user or team); None: the account's default.
        mode: configured mode; ``WANDB_MODE`` overrides it (:meth:`effective_mode`).
        dir: folder under which W&B writes its ``wandb/`` run folders.
        init_timeout_s: seconds W&B may take to start a run (online: reach the server) before
            the stage falls back to an offline run with a warning; W&B never gates a result.
    """

    project: Str = "las"
    entity: Str | None = None
    mode: TrackingModeField = TrackingMode.OFFLINE
    dir: Str = "."
    init_timeout_s: PositiveFloat = 8.0

    def __post_init__(self) -> None:
        self.effective_mode()  # an invalid WANDB_MODE is refused when the config is built

    def effective_mode(self) -> TrackingMode:
        """``WANDB_MODE`` when set, else the configured mode (``ValueError`` naming both)."""
        env = os.environ.get("WANDB_MODE")
        if not env:
            return self.mode
        try:
            return TrackingMode.parse(env)
        except ValueError as err:
            raise ValueError(f"environment variable WANDB_MODE: {err}") from None


def is_scalar(value: Any) -> bool:
    """Whether ``value`` is a scalar a run summary and a table cell keep as is."""
    return value is None or isinstance(value, str | int | float | bool)


#: The summary keys that identify a record (the head of :func:`summary`).
IDENTITY = ("config_hash", "git_commit")


def summary(record: Mapping[str, Any]) -> dict[str, Scalar]:
    """The scalar part of a record: config hash, git commit and every scalar stage field."""
    head = {key: record.get(key) for key in IDENTITY}
    return head | {k: v for k, v in record.items() if k not in RESERVED and is_scalar(v)}


def record_stage(
    out: Path,
    stage: str,
    config: Mapping[str, Any],
    tracking: TrackingConfig,
    digest: str,
    fields: Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame] | None = None,
    artifacts: Iterable[Path] = (),
) -> Path:
    """Write ``out/metrics.json`` (atomically) and mirror it, ``tables`` and ``artifacts`` to W&B.

    ``config`` is the stage's plain typed config: its ``experiment`` names the W&B group;
    ``tracking`` the project and mode. ``fields`` are the stage's results (JSON-serialisable; the
    scalar ones become the run summary). Returns the path of ``metrics.json``, whose ``wandb``
    entry (None when disabled) names the run.
    """
    record = {"stage": stage, "config": dict(config), "config_hash": digest, **fields}
    record |= provenance()
    run = _start_run(tracking, record)
    record["wandb"] = _run_identity(run)
    path = out / "metrics.json"
    tmp = path.with_name(".metrics.json.tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str))
    tmp.replace(path)
    if run is not None:
        try:
            _mirror(run, record, tables or {}, [path, *artifacts])
        except Exception as error:  # as in _start_run: W&B's failure never costs a result
            warnings.warn(
                f"W&B mirror of stage {stage!r} failed ({error}); the local record is complete",
                stacklevel=2,
            )
    return path


def _settings(mode: TrackingMode, timeout_s: float) -> wandb.Settings:
    """No prompts, no console capture, no system probes: a run is a file writer in a stage."""
    import wandb

    return wandb.Settings(
        mode=mode.value,
        init_timeout=timeout_s,
        silent=True,
        console="off",
        disable_git=True,
        disable_code=True,
        save_code=False,
        disable_job_creation=True,
        x_save_requirements=False,  # the record's `versions` keeps the packages that matter
        x_disable_stats=True,
        x_disable_meta=True,
        x_disable_machine_info=True,
        reinit="finish_previous",
    )


def _start_run(tracking: TrackingConfig, record: Mapping[str, Any]) -> wandb.Run | None:
    """A W&B run for ``record``; None when disabled or when W&B refuses even an offline run.

    An online run that cannot start within ``tracking.init_timeout_s`` (no network, no API key)
    falls back to an offline run with a warning: the stage never waits on W&B for long.
    """
    mode = tracking.effective_mode()
    if mode is TrackingMode.DISABLED:
        return None
    try:
        return _init(tracking, record, mode)
    except Exception as error:  # W&B raises many kinds; none may cost a result
        fallback = "an offline run" if mode is TrackingMode.ONLINE else "no W&B run"
        warnings.warn(
            f"W&B {mode.value} run of stage {record['stage']!r} not started ({error}); "
            f"{fallback} instead. The local record is complete.",
            stacklevel=3,
        )
    if mode is TrackingMode.ONLINE:
        try:
            return _init(tracking, record, TrackingMode.OFFLINE)
        except Exception as error:
            warnings.warn(f"offline W&B run not started either ({error})", stacklevel=3)
    return None


def _init(tracking: TrackingConfig, record: Mapping[str, Any], mode: TrackingMode) -> wandb.Run:
    import wandb

    config, stage = record["config"], record["stage"]
    model = (config.get("model") or {}).get("name") or config.get("vlm")
    settings = _settings(mode, tracking.init_timeout_s)
    wandb.setup(settings)  # the process-wide settings too: W&B's own telemetry reads them
    with _no_launch_inputs():
        return wandb.init(
            project=tracking.project,
            entity=tracking.entity,
            group=config.get("experiment"),
            job_type=stage,
            name=f"{model}-{stage}-{record['config_hash'][:8]}",
            config=config | {k: record[k] for k in ("versions", "platform") if k in record},
            dir=tracking.dir,
            settings=settings,
        )


def _no_launch_inputs():
    """``wandb.init`` without its W&B Launch step (inputs staged by a Launch agent).

    Every init imports W&B's whole Launch package to look for such inputs, and with torch and
    transformers loaded that import costs 3 to 4 s per stage process (pydantic resolves its
    models' docstrings through ``inspect.getmodule`` over every loaded module). A stage run is
    never a Launch job (``disable_job_creation``), so the step has nothing to apply; it is left
    out for the duration of the init only.
    """
    from unittest import mock

    from wandb.sdk.wandb_run import Run

    return mock.patch.object(Run, "_detect_and_apply_job_inputs", lambda self: None)


def _run_identity(run: wandb.Run | None) -> dict[str, Any] | None:
    """What the local record keeps of its W&B run, to find it again (:mod:`las.records`)."""
    if run is None:
        return None
    return {
        "id": run.id,
        "project": run.project,
        "entity": run.entity or None,
        "group": run.group or None,
        "mode": "offline" if run.offline else "online",
        "dir": run.settings.sync_dir,
    }


def _mirror(
    run: wandb.Run,
    record: Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame],
    files: list[Path],
) -> None:
    """Log summary, tables and files to ``run`` and finish it.

    The artifact's metadata is the record's identity (config hash, git commit) with every
    scalar field nested under ``summary``: W&B refuses more than 100 top-level metadata keys,
    and a task table flattens to hundreds (:func:`las.reporting.flatten_task_rows`).
    """
    import wandb

    with run:
        scalars = summary(record)
        run.summary.update(scalars)
        if tables:
            run.log({f"tables/{k}": wandb.Table(dataframe=df) for k, df in tables.items()})
        name = re.sub(r"[^\w.-]", "-", run.name or record["stage"])
        identity = {k: scalars[k] for k in IDENTITY}
        metadata = identity | {"summary": {k: v for k, v in scalars.items() if k not in identity}}
        artifact = wandb.Artifact(name, type=record["stage"], metadata=metadata)
        for path in files:
            artifact.add_file(str(path))
        run.log_artifact(artifact)
