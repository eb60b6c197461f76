"""The stage shell every pipeline stage shares: typed config in, result out, nothing lost.

A stage module declares a typed config (a subclass of :class:`StageConfig`), a
``run(cfg, ctx) -> StageResult`` doing the work, and ``main = entry_point(STAGE, Config, run)``.
:func:`execute` is the rest, the same for every stage:

1. the config is built and checked before any compute (:func:`las.config.build`: unknown keys,
   types, ranges, an invalid ``WANDB_MODE``);
2. every declared input is found, its identity read and checked against this config
   (:meth:`StageConfig.inputs`, :func:`las.artifacts.check_lineage`); inputs made from
   different runs of one upstream stage are refused;
3. the run's config hash (config without paths and tracking, plus the inputs' config hashes) is
   compared with the record already in ``output_dir``: a finished run of another config is never
   overwritten (:class:`OutputConflictError` names the keys that differ and the way out);
4. ``run`` writes into a hidden work folder inside ``output_dir``; only when it returns are its
   files moved in, the old record having been removed first and the new ``metrics.json``
   written last (atomically). An interrupted stage leaves no file that looks complete.
5. the record is mirrored to W&B (:mod:`las.tracking`), which never gates a result.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import hydra
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from las.artifacts import Identity, Lineage, check_lineage, merge_lineages, read_identity
from las.config import Name, Str, build, config_hash, first_difference, plain, typed
from las.tracking import TrackingConfig, record_stage

RECORD = "metrics.json"
C = TypeVar("C", bound="StageConfig")


class OutputConflictError(RuntimeError):
    """``output_dir`` holds a finished run of another config; nothing was written."""


@dataclass(frozen=True)
class Input:
    """An artifact a stage reads: its path, the stage that makes it, what its lineage must say.

    ``expect``: ``"<stage>.<key>..."`` -> plain value (see :func:`las.artifacts.check_lineage`).
    """

    path: Path
    stage: str
    expect: Mapping[str, Any] = field(default_factory=dict)


@typed
class StageConfig:
    """Fields of every stage config; a subclass adds its own and names its stage and path fields
    as class arguments: ``class CalibrateConfig(StageConfig, stage="calibrate", paths=("stats",))``.

    Attributes:
        experiment: results folder ``results/<experiment>/`` and the W&B group.
        output_dir: where the stage writes (the rule's output folder).
        tracking: the W&B mirror of the record.
    """

    #: The stage's name (``las/<STAGE>.py``, ``conf/<STAGE>.yaml``, ...).
    STAGE: ClassVar[str] = ""
    #: Fields holding input paths: left out of the config hash (the inputs' hashes go in).
    PATHS: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, stage: str = "", paths: tuple[str, ...] = (), **kwargs: Any):
        super().__init_subclass__(**kwargs)
        cls.STAGE, cls.PATHS = stage, paths

    experiment: Name
    output_dir: Str
    tracking: TrackingConfig

    def inputs(self) -> dict[str, Input]:
        """The artifacts this run reads, by name (default: none)."""
        return {}

    def identity_config(self) -> dict[str, Any]:
        """The plain config that decides the results: no paths, no tracking, no experiment."""
        drop = {"experiment", "output_dir", "tracking", *self.PATHS}
        return {f.name: plain(getattr(self, f.name)) for f in fields(self) if f.name not in drop}


@dataclass
class StageContext:
    """What ``run`` gets besides its config: the work folder and the checked inputs."""

    stage: str
    work: Path
    config_hash: str
    config: dict[str, Any]
    inputs: dict[str, Identity]
    lineage: Lineage

    def identity(self, model_id: str, revision: str) -> Identity:
        """The identity of an artifact this run writes (lineage: its inputs' plus this stage)."""
        entry = {"config_hash": self.config_hash, "config": self.config}
        return Identity(model_id, revision, self.config_hash, self.lineage | {self.stage: entry})


@dataclass
class StageResult:
    """What a stage returns: its record fields, tables (mirrored), files written in ``work``."""

    fields: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


Run = Callable[[Any, StageContext], StageResult]


def load_config(cls: type[C], cfg: DictConfig | Mapping[str, Any]) -> C:
    """The typed stage config of a composed Hydra config (``ConfigError`` before any compute)."""
    data = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    return build(cls, data, f"'{cls.STAGE}' config")  # type: ignore[arg-type]


def check_inputs(cfg: StageConfig) -> tuple[dict[str, Identity], Lineage]:
    """Read and check every declared input of ``cfg``; return identities and merged lineage."""
    inputs = cfg.inputs()
    identities = {name: read_identity(item.path, item.stage) for name, item in inputs.items()}
    for name, item in inputs.items():
        check_lineage(identities[name], item.path, item.expect, item.stage)
    lineage = merge_lineages((inputs[name].path, i) for name, i in identities.items())
    return identities, lineage


def guard_output(out: Path, stage: str, digest: str, config: Mapping[str, Any]) -> None:
    """Refuse to write where a finished run of another stage or config has its record."""
    path = out / RECORD
    if not path.exists():
        return
    try:
        record = json.loads(path.read_text())
        old_stage, old_hash = record["stage"], record["config_hash"]
    except (ValueError, KeyError, TypeError):
        return  # an unreadable record marks no finished run; it is replaced
    if (old_stage, old_hash) == (stage, digest):
        return
    diff = first_difference(record.get("identity_config", {}), dict(config)) or ["(inputs)"]
    raise OutputConflictError(
        f"{out} holds a finished '{old_stage}' run with config hash {old_hash}; this '{stage}' "
        f"run has {digest}, differing in:\n  " + "\n  ".join(diff) + "\nNothing was written. "
        f"Give this run its own output_dir=..., or delete {out} to replace that run "
        "(the pipeline reruns its own stages when their configs change)."
    )


def execute(cfg: StageConfig, run: Run) -> Path:
    """Run ``run`` under the shell (module docstring); return the output folder."""
    stage, out = cfg.STAGE, Path(cfg.output_dir)
    identities, lineage = check_inputs(cfg)
    config = cfg.identity_config()
    inputs = {name: identity.config_hash for name, identity in identities.items()}
    digest = config_hash({"config": config, "inputs": inputs})
    guard_output(out, stage, digest, config)
    work = out / f".{stage}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    result = run(cfg, StageContext(stage, work, digest, config, identities, lineage))
    for name, table in result.tables.items():
        if f"{name}.csv" in result.files:
            table.to_csv(work / f"{name}.csv", index=False)
    (out / RECORD).unlink(missing_ok=True)
    for name in result.files:
        os.replace(work / name, out / name)
    shutil.rmtree(work)
    fields_ = {"identity_config": config, "inputs": inputs, **result.fields}
    artifacts = [out / name for name in result.files]
    record_stage(out, stage, plain(cfg), cfg.tracking, digest, fields_, result.tables, artifacts)
    return out


CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def run_composed(cls: type[C], run: Run, cfg: DictConfig | Mapping[str, Any]) -> Path:
    """Build ``cls`` from a composed config and :func:`execute` ``run``; the output folder."""
    return execute(load_config(cls, cfg), run)


def entry_point(cls: type[C], run: Run) -> Callable[[], None]:
    """The ``main`` of a stage module: Hydra composes ``conf/<STAGE>.yaml``, the shell runs it."""

    @hydra.main(config_path=str(CONF_DIR), config_name=cls.STAGE, version_base="1.3")
    def main(cfg: DictConfig) -> None:
        run_composed(cls, run, cfg)

    return main
