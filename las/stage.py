"""Shared plumbing of the stage entry points: typed configs from Hydra, identities, paths.

The library proper never imports Hydra; stages convert their ``DictConfig`` here into the frozen
dataclasses the library takes. Each stage's record is written by :func:`las.tracking.record_stage`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from las.calibration.rules import RuleConfig
from las.conversion.config import ConversionConfig
from las.models import ModelSpec
from las.provenance import config_hash


def as_dict(cfg: DictConfig) -> dict[str, Any]:
    """A resolved plain dict of ``cfg``."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def model_spec(cfg: DictConfig) -> ModelSpec:
    """The :class:`las.models.ModelSpec` of a ``model`` config group."""
    return ModelSpec(**as_dict(cfg))


def conversion_config(cfg: DictConfig) -> ConversionConfig:
    """The :class:`las.ConversionConfig` of a ``conversion`` config group."""
    return ConversionConfig(**as_dict(cfg))


def rule_config(cfg: DictConfig) -> RuleConfig:
    """The :class:`las.calibration.RuleConfig` of a ``calibration`` config group."""
    return RuleConfig(**as_dict(cfg))


def expected_model_id(spec: ModelSpec) -> str:
    """The model id an artifact made from ``spec`` carries (see :func:`las.models.load`)."""
    return f"tiny-{spec.id}" if spec.source == "tiny" else spec.id


def stage_hash(cfg: DictConfig, *keys: str) -> str:
    """Config hash over the sub-configs ``keys`` (paths and other keys excluded)."""
    return config_hash(
        {key: as_dict(cfg[key]) if isinstance(cfg[key], DictConfig) else cfg[key] for key in keys}
    )


def output_dir(cfg: DictConfig) -> Path:
    """The stage's output folder (created)."""
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out
