"""A recorded W&B API response, served by a stand-in for ``wandb.Api`` (no network).

``fixtures/wandb_runs.json`` is the GraphQL answer of a ``runs`` query on project ``las-ci/las``:
a collect run and three evaluate runs of experiment ``embedded`` (one an older rerun) and one
evaluate run of experiment ``paper``. :class:`RecordedApi` turns its nodes into real
``wandb.apis.public.Run`` objects, so wandb's own parsing of config and summary is exercised.
:func:`write_twins` writes, through :func:`las.tracking.record_stage`, the local records of the
same runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wandb
from wandb.apis.public import Run

from las import tracking

FIXTURE = Path(__file__).parent / "fixtures" / "wandb_runs.json"
RECORDED = json.loads(FIXTURE.read_text())
CURRENT = ("k3x9a1c0", "r5t8w2e3", "b2n6v8e4")
"""The runs of experiment ``embedded`` that the local results store still holds."""


class RecordedApi:
    """``wandb.Api`` answering ``runs`` from :data:`RECORDED`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.entity, self.project = RECORDED["entity"], RECORDED["project"]

    def runs(
        self, path: str, filters: dict[str, Any] | None = None, lazy: bool = True, **_: Any
    ) -> Iterator[Run]:
        assert path == f"{self.entity}/{self.project}", path
        for edge in RECORDED["data"]["project"]["runs"]["edges"]:
            node = edge["node"]
            if all(node.get(key) == value for key, value in (filters or {}).items()):
                yield Run(None, self.entity, self.project, node["name"], attrs=node, lazy=lazy)


def isolate_wandb(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep W&B's data (artifact staging), cache and API run folders under ``root``."""
    for var in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_DIR"):
        monkeypatch.setenv(var, str(root / "wandb-home" / var.lower()))


def recorded_runs() -> dict[str, Run]:
    """Every recorded run by id."""
    return {run.id: run for run in RecordedApi().runs("las-ci/las")}


def write_twins(root: Path, monkeypatch: pytest.MonkeyPatch, ids=CURRENT) -> list[Path]:
    """Write the local records of the recorded runs ``ids`` under ``root``; return their paths.

    Each is written by ``record_stage`` in offline mode under the recorded run id, with the
    recorded config, config hash, fields and provenance.
    """
    runs, paths, start = recorded_runs(), [], wandb.init
    monkeypatch.setenv("WANDB_MODE", "offline")
    for run_id in ids:
        run = runs[run_id]
        summary = run.summary_metrics
        config = {k: v for k, v in run.config.items() if k != "versions"}
        config["tracking"] |= {"mode": "offline", "dir": str(root)}
        out = root / run.group / config["model"]["name"] / run.job_type
        out.mkdir(parents=True)
        prov = {"git_commit": summary["git_commit"], "versions": run.config["versions"]}
        monkeypatch.setattr(tracking, "provenance", lambda prov=prov: prov)
        monkeypatch.setattr(wandb, "init", lambda run_id=run_id, **kw: start(id=run_id, **kw))
        fields = {
            k: v
            for k, v in summary.items()
            if k not in ("config_hash", "git_commit", "_wandb") and tracking.is_scalar(v)
        }
        settings = tracking.TrackingConfig(**config.get("tracking", {}))
        digest = summary["config_hash"]
        paths.append(tracking.record_stage(out, run.job_type, config, settings, digest, fields))
    monkeypatch.setattr(wandb, "init", start)
    return paths
