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
#: Small probes for tiny encoders, one word-similarity set (every pair of it).
SMALL_PROBE = (
    "probe.tasks.sentiment.train=40",
    "probe.tasks.sentiment.test=30",
    "probe.tasks.topic.train=40",
    "probe.tasks.topic.test=30",
    "similarity.sets=[wordsim353]",
    "max_length=32",
    "batch_size=128",
)
CONFIG_CLASSES = {
    "download": "DownloadConfig",
    "collect": "CollectConfig",
    "calibrate": "CalibrateConfig",
    "fit_hg": "FitHGConfig",
    "convert": "ConvertConfig",
    "evaluate": "EvaluateConfig",
    "evaluate_tasks": "EvaluateTasksConfig",
    "evaluate_probe": "EvaluateProbeConfig",
    "evaluate_vqa": "EvaluateVQAConfig",
    "evaluate_glue": "EvaluateGlueConfig",
    "evaluate_vlm_tasks": "EvaluateVLMTasksConfig",
    "finetune_qcfs": "FinetuneQCFSConfig",
    "calibrate_fas": "CalibrateFASConfig",
    "raster": "RasterConfig",
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
            "evaluate_probe": [*SMALL_PROBE, f"converted={d('convert')}"],
        }[stage]
        return [self.model, "tracking=disabled", *inputs, f"output_dir={d(stage)}"]

    def run(self, stage: str, *extra: str) -> Path:
        return run_stage(stage, *self.overrides(stage), *extra)


STAGES = ("download", "collect", "calibrate", "fit_hg", "convert", "evaluate")
#: Small FAS budgets for the tiny chain (Stage 1 and Stage 2).
SMALL_FAS = ("finetune.steps=3", "finetune.checkpoint_every=2", "fas.coarse_steps=3")
BASELINE_T = 4


@dataclass(frozen=True)
class Baselines:
    """Folders of the FAS and naive stages on a finished tiny :class:`Chain` (T = 4)."""

    chain: Chain

    def dir(self, stage: str) -> Path:
        return self.chain.root / "baselines" / stage

    def overrides(self, stage: str) -> list[str]:
        d, c = self.dir, self.chain.dir
        T = f"conversion.T={BASELINE_T}"
        inputs = {
            "finetune_qcfs": [*SMALL_DATA, *SMALL_FAS[:2]],
            "calibrate_fas": [
                *SMALL_DATA,
                SMALL_FAS[2],
                T,
                f"weights={d('finetune_qcfs') / 'weights.safetensors'}",
            ],
            "convert_fas": [
                "method=fas",
                T,
                "ablation=T4",
                f"fas_neurons={d('calibrate_fas') / 'fas.safetensors'}",
                f"weights={d('finetune_qcfs') / 'weights.safetensors'}",
            ],
            "convert_naive": [
                "method=naive",
                T,
                "ablation=T4",
                f"stats={c('collect') / 'stats.safetensors'}",
            ],
        }[stage]
        return [self.chain.model, "tracking=disabled", *inputs, f"output_dir={d(stage)}"]

    def run(self, stage: str, *extra: str) -> Path:
        """Run ``stage`` (``convert_fas``/``convert_naive``: the convert stage by method)."""
        name = "convert" if stage.startswith("convert") else stage
        return run_stage(name, *self.overrides(stage), *extra)


def run_baselines(chain: Chain) -> Baselines:
    """Run FAS Stage 1 and 2 and convert FAS and naive on ``chain``'s tiny LLaMA."""
    baselines = Baselines(chain)
    for stage in ("finetune_qcfs", "calibrate_fas", "convert_fas", "convert_naive"):
        baselines.run(stage)
    return baselines


def run_chain(root: Path, model: str = "model=tiny_llama", stages=STAGES) -> Chain:
    """Run ``stages`` (default :data:`STAGES`) for ``model`` (the tiny LLaMA) under ``root``."""
    chain = Chain(root, model)
    for stage in stages:
        chain.run(stage)
    return chain
