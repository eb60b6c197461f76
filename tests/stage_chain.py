"""The stage chain on a tiny model, run through the shell as the pipeline runs it (for tests)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from hydra import compose, initialize_config_dir

from las.stage import CONF_DIR, run_composed

SMALL_DATA = (
    "data.seq_len=32",
    "data.calib_sequences=4",
    "data.eval_sequences=2",
    "data.batch_size=2",
)
CONFIG_CLASSES = {
    "download": "DownloadConfig",
    "collect": "CollectConfig",
    "calibrate": "CalibrateConfig",
    "fit_hg": "FitHGConfig",
    "convert": "ConvertConfig",
    "evaluate": "EvaluateConfig",
    "evaluate_tasks": "EvaluateTasksConfig",
    "evaluate_vqa": "EvaluateVQAConfig",
}


def compose_stage(stage: str, *overrides: str):
    """The composed Hydra config of ``conf/<stage>.yaml`` with ``overrides``."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=stage, overrides=list(overrides))


def config_class(stage: str) -> type:
    """The typed config class of ``stage``."""
    return getattr(importlib.import_module(f"las.{stage}"), CONFIG_CLASSES[stage])


def run_stage(stage: str, *overrides: str) -> Path:
    """Compose and run ``stage`` through the shell; the output folder."""
    module = importlib.import_module(f"las.{stage}")
    return run_composed(config_class(stage), module.run, compose_stage(stage, *overrides))


@dataclass(frozen=True)
class Chain:
    """Folders of one finished tiny chain: download -> ... -> evaluate."""

    root: Path
    model: str = "model=tiny_llama"

    def dir(self, stage: str) -> Path:
        return self.root / stage

    def overrides(self, stage: str) -> list[str]:
        """The overrides the chain ran ``stage`` with (paths included)."""
        d = self.dir
        inputs = {
            "download": [],
            "collect": [*SMALL_DATA],
            "calibrate": [f"stats={d('collect') / 'stats.safetensors'}"],
            "fit_hg": [f"stats={d('collect') / 'stats.safetensors'}"],
            "convert": [
                f"thresholds={d('calibrate') / 'thresholds.safetensors'}",
                f"bank={d('fit_hg') / 'hg_bank.safetensors'}",
            ],
            "evaluate": [*SMALL_DATA, f"converted={d('convert')}"],
            "evaluate_tasks": ["task.limit=2", f"converted={d('convert')}"],
        }[stage]
        return [self.model, "tracking=disabled", *inputs, f"output_dir={d(stage)}"]

    def run(self, stage: str, *extra: str) -> Path:
        return run_stage(stage, *self.overrides(stage), *extra)


STAGES = ("download", "collect", "calibrate", "fit_hg", "convert", "evaluate")


def run_chain(root: Path) -> Chain:
    """Run :data:`STAGES` for the tiny LLaMA under ``root``."""
    chain = Chain(root)
    for stage in STAGES:
        chain.run(stage)
    return chain
