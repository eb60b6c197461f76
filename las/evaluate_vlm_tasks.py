"""Stage ``evaluate_vlm_tasks``: lm-eval image-question tasks, a VLM as ANN and SNN, same items.

Loads the vision-language model once as lm-eval's multimodal model
(:class:`las.evaluation.vlm_model.LASVLM`: the model's own processor, lm-eval's images),
evaluates it unconverted (the ANN reference), calibrates it on seeded synthetic image-question
batches, converts it in place (vision tower, projector or patch merger, language model: METHOD.md
M1-M8) and evaluates again on the same items (:func:`las.evaluation.harness.evaluate_pair`).
Outputs in ``output_dir``: ``tasks.csv`` (the rows and columns of ``evaluate_tasks``: value,
stderr, n, ANN value, paired delta and 95 % interval, verdict) and ``metrics.json`` (the
``evaluate_tasks`` record fields, so that ``tables`` puts the rows in Table 1). VLMs have no
pipeline calibration stages, so calibration happens here; ``fas`` (trained in the pipeline) is
refused. lm-eval's multimodal model scores generation tasks only. A task set with
``harness: lmms_eval`` (the LAS paper's VLM benchmarks, ``conf/task/paper_vlm_lmms.yaml``) runs
through lmms-eval instead, with its ``las_llava_hf``/``las_qwen2_vl`` model
(:mod:`las.evaluation.lmms_model`, chosen by the model's ``model_type``), in lmms-eval's own
environment (the Snakemake rule runs it with ``config["lmms_python"]``); same rows.
"""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig

from las import reporting
from las.assets import fetch_hub_model
from las.calibration.rules import RuleConfig
from las.config import PositiveInt, plain, typed
from las.conversion import ConversionConfig
from las.evaluation.configs import MethodConfig, TaskConfig
from las.evaluation.harness import evaluate_pair, task_manager
from las.evaluation.vlm_model import LASVLM
from las.models import ModelSpec, default_cache
from las.stage import StageConfig, StageContext, StageResult, entry_point


@typed
class EvaluateVLMTasksConfig(StageConfig, stage="evaluate_vlm_tasks"):
    """``conf/evaluate_vlm_tasks.yaml``: the VLM, the method, its conversion and calibration
    (``calib_batches`` synthetic batches of ``calib_batch_size`` items), the task set."""

    model: ModelSpec
    method: MethodConfig
    task: TaskConfig
    conversion: ConversionConfig
    calibration: RuleConfig
    calib_batches: PositiveInt
    calib_batch_size: PositiveInt
    batch_size: PositiveInt

    def __post_init__(self) -> None:
        why = "scores vision-language models (causal LMs: evaluate_tasks)"
        self.model.require_task("vision_language", "evaluate_vlm_tasks", why)
        if self.task.harness == "lmms_eval" and self.batch_size != 1:
            raise ValueError(
                f"evaluate_vlm_tasks: batch_size={self.batch_size} with task.harness=lmms_eval; "
                "lmms-eval's llava_hf generates one item at a time: set batch_size=1"
            )
        if self.method.name == "fas":
            raise ValueError(
                "evaluate_vlm_tasks: method=fas needs the finetune_qcfs and calibrate_fas stages, "
                "which do not run VLMs; use method=las or method=naive"
            )


def pretrained(model: ModelSpec) -> str:
    """What :class:`LASVLM` loads: ``tiny:<family>``, or the hub snapshot at the pinned revision
    in ``$LAS_CACHE`` (fetched if missing; the download stage's cache)."""
    if model.source == "tiny":
        return f"tiny:{model.id}"
    if model.source != "hub":
        raise ValueError(f"evaluate_vlm_tasks: no {model.source} VLMs; use a hub or tiny model")
    return str(fetch_hub_model(model.id, model.revision, default_cache()))


def lmms_model(cfg: EvaluateVLMTasksConfig) -> Any:
    """The lmms-eval ``las`` model of ``cfg.model`` (its class by the config's ``model_type``),
    unconverted; its conversion and calibration settings from ``cfg``."""
    from las.evaluation.lmms_model import BY_MODEL_TYPE

    path = pretrained(cfg.model)
    if cfg.model.source == "tiny":
        kind, extra = cfg.model.id, {}
    else:
        kind = AutoConfig.from_pretrained(path).model_type
        extra = {"model_id": cfg.model.id}
    if kind not in BY_MODEL_TYPE:
        raise ValueError(
            f"evaluate_vlm_tasks: no lmms-eval las model for {cfg.model.name} (model_type "
            f"{kind!r}); known: {', '.join(BY_MODEL_TYPE)}"
        )
    return BY_MODEL_TYPE[kind](pretrained=path, method="none", **_common(cfg), **extra)


def _common(cfg: EvaluateVLMTasksConfig) -> dict[str, Any]:
    """The model arguments both harnesses' ``las`` VLM models take from ``cfg``."""
    extra = {} if cfg.method.percentile is None else {"percentile": cfg.method.percentile}
    return {
        "batch_size": cfg.batch_size,
        "calibration_batches": cfg.calib_batches,
        "calibration_batch_size": cfg.calib_batch_size,
        "calibration_rule": cfg.calibration,
        **extra,
        **plain(cfg.conversion),
    }


def run(cfg: EvaluateVLMTasksConfig, ctx: StageContext) -> StageResult:
    """Evaluate as configured."""
    if cfg.task.harness == "lmms_eval":
        lm = lmms_model(cfg)
    else:
        # a tiny model comes with its identity and dtype; a hub snapshot takes the spec's
        extra = {"model_id": cfg.model.id, "revision": cfg.model.revision}
        extra = extra | {"dtype": cfg.model.dtype} if cfg.model.source == "hub" else {}
        lm = LASVLM(pretrained=pretrained(cfg.model), method="none", **_common(cfg), **extra)
    harness = cfg.task.harness
    manager = task_manager(cfg.task.include_defaults, harness)
    rows = evaluate_pair(lm, cfg.task.tasks, cfg.method.name, cfg.task.limit, manager, harness)
    rows.insert(0, "model_name", cfg.model.name)
    fields = {
        "model_id": lm.options.model_id,
        "revision": lm.options.revision,
        "method": cfg.method.name,
        "T": cfg.conversion.T,
        "task_set": cfg.task.name,
        **reporting.flatten_task_rows(rows),
    }
    return StageResult(fields, {"tasks": rows}, ["tasks.csv"])


main = entry_point(EvaluateVLMTasksConfig, run)

if __name__ == "__main__":
    main()
