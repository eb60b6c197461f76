"""Stage ``evaluate_tasks``: lm-eval tasks, ANN and SNN side by side, on the same items.

Loads the original model once, evaluates it unconverted (the ANN reference), converts it in
place as the converted-model folder says (the ``convert`` stage) and evaluates again on the same
items (:func:`las.evaluation.harness.evaluate_pair`). Outputs in ``output_dir``: ``tasks.csv``
(one row per task and metric: value, stderr, n, ANN value, paired delta and 95 % interval,
verdict) and ``metrics.json``. Causal LMs only: lm-eval scores log-likelihoods.
"""

from __future__ import annotations

from pathlib import Path

from las import reporting
from las.config import PositiveInt, Str, plain, typed
from las.converted import MANIFEST
from las.evaluation.configs import MethodConfig, TaskConfig
from las.evaluation.harness import evaluate_pair, task_manager
from las.evaluation.lm_eval_model import LASLM
from las.models import ModelSpec
from las.stage import Input, StageConfig, StageContext, StageResult, entry_point


@typed
class EvaluateTasksConfig(StageConfig, stage="evaluate_tasks", paths=("converted",)):
    """``conf/evaluate_tasks.yaml``: the task set, the method and its converted model."""

    model: ModelSpec
    method: MethodConfig
    task: TaskConfig
    batch_size: PositiveInt
    converted: Str

    def __post_init__(self) -> None:
        why = "scores log-likelihoods of causal LMs (an encoder's fidelity: the evaluate stage)"
        self.model.require_task("causal_lm", "evaluate_tasks", why)

    def inputs(self) -> dict[str, Input]:
        expect = {"convert.model": plain(self.model), "convert.method.name": self.method.name}
        return {"converted": Input(Path(self.converted) / MANIFEST, "convert", expect)}


def run(cfg: EvaluateTasksConfig, ctx: StageContext) -> StageResult:
    """Evaluate as configured."""
    lm = LASLM(pretrained=cfg.converted, method="none", batch_size=cfg.batch_size)
    manager = task_manager(cfg.task.include_defaults)
    rows = evaluate_pair(lm, cfg.task.tasks, cfg.method.name, cfg.task.limit, manager)
    rows.insert(0, "model_name", cfg.model.name)
    fields = {
        "model_id": lm.options.model_id,
        "revision": lm.options.revision,
        "method": cfg.method.name,
        "T": lm.options.conversion.T,
        "task_set": cfg.task.name,
        **reporting.flatten_task_rows(rows),
    }
    return StageResult(fields, {"tasks": rows}, ["tasks.csv"])


main = entry_point(EvaluateTasksConfig, run)

if __name__ == "__main__":
    main()
