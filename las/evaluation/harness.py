"""ANN and SNN on the same lm-eval tasks in one run: one row per task and metric, delta beside.

Rows carry model, revision, method, T, thresholds hash, task, metric, SNN value and stderr, n,
the ANN value and stderr from the same run, and the paired difference with its 95 % interval
(:mod:`las.evaluation.paired`); ``verdict`` claims a difference only outside that interval.
Multiple-choice tasks add per-item prediction agreement, the mean absolute difference of the
per-choice log-likelihoods, both models' majority shares and a flag for a model that predicts
one choice on > 90 % of items (:mod:`las.evaluation.choices`). The same functions drive lmms-eval
(``harness="lmms_eval"``, the LAS paper's VLM benchmarks), whose ``simple_evaluate`` and
``TaskManager`` take the same arguments and return results of the same layout; it is imported
only then, in its own environment (:mod:`las.evaluation.lmms_model`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lm_eval
import lm_eval.tasks
import pandas as pd

from las.config import ConfigError
from las.evaluation.choices import NO_CHOICES, choice_measures
from las.evaluation.lm_eval_model import LASLM
from las.evaluation.paired import metric_row, paired_difference
from las.tasks import TASKS_DIR

HARNESSES = ("lm_eval", "lmms_eval")
LMMS_ENV = "workflow/envs/lmms-eval.txt"


def _harness(harness: str) -> tuple[Callable[..., dict[str, Any]], type, dict[str, str]]:
    """(``simple_evaluate``, ``TaskManager``, the manager's extra arguments) of ``harness``:
    lm-eval with the tasks of ``las/tasks``; lmms-eval with its own only."""
    if harness == "lm_eval":
        return lm_eval.simple_evaluate, lm_eval.tasks.TaskManager, {"include_path": str(TASKS_DIR)}
    if harness != "lmms_eval":
        raise ConfigError(f"task.harness={harness!r} is not one of {', '.join(HARNESSES)}")
    try:
        import lmms_eval.evaluator
        import lmms_eval.tasks
    except ImportError as err:
        raise ConfigError(
            f"task.harness=lmms_eval needs lmms-eval, which is not importable here ({err}); "
            f"it has its own environment: python -m venv .venv-lmms --system-site-packages && "
            f".venv-lmms/bin/pip install -r {LMMS_ENV}, then run with .venv-lmms/bin/python"
        ) from err
    return lmms_eval.evaluator.simple_evaluate, lmms_eval.tasks.TaskManager, {}


def task_manager(include_defaults: bool = False, harness: str = "lm_eval") -> Any:
    """``harness``'s ``TaskManager``: lm-eval with the tasks of ``las/tasks`` (offline), its own
    tasks too when ``include_defaults``; lmms-eval with its own tasks (``include_defaults``).

    Indexing lm-eval's built-in tasks costs ~18 s per process, so the embedded default skips it.
    """
    _, manager, extra = _harness(harness)
    return manager(include_defaults=include_defaults, **extra)


def run_tasks(
    lm: Any,
    tasks: Sequence[str],
    manager: Any,
    limit: int | float | None = None,
    harness: str = "lm_eval",
) -> dict[str, Any]:
    """``harness``'s ``simple_evaluate`` of ``lm`` on ``tasks`` with per-item samples logged."""
    return _harness(harness)[0](
        model=lm, tasks=list(tasks), task_manager=manager, limit=limit, log_samples=True
    )


def _item_value(value: Any) -> Any:
    """A per-item metric value; lmms-eval's record of one item (a dict with its ``score``, as
    POPE and MME log) is its score."""
    return value["score"] if isinstance(value, dict) and "score" in value else value


def _per_item(results: dict[str, Any], task: str, metric: str) -> list:
    samples = sorted(results["samples"][task], key=lambda s: s["doc_id"])
    return [_item_value(s[metric]) for s in samples]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else float("nan")


def result_rows(ann: dict[str, Any], snn: dict[str, Any], identity: dict[str, Any]) -> pd.DataFrame:
    """One row per (task, metric) of two ``run_tasks`` results on the same items."""
    rows = []
    for task, metrics in snn["results"].items():
        n = snn["n-samples"][task]["effective"]
        better = snn.get("higher_is_better", {}).get(task, {})
        choices = choice_measures(ann["samples"][task], snn["samples"][task]) or NO_CHOICES
        for key, value in metrics.items():
            metric, _, filt = key.partition(",")
            # standard errors (lmms-eval adds ``_stderr_clt`` and ``_stderr_clustered``)
            if not filt or metric.endswith("_stderr") or "_stderr_" in metric:
                continue
            stderr_key = f"{metric}_stderr,{filt}"
            diff = paired_difference(
                metric, _per_item(ann, task, metric), _per_item(snn, task, metric)
            )
            snn_estimate = (_number(value), _number(metrics.get(stderr_key)))
            ann_metrics = ann["results"][task]
            ann_estimate = (_number(ann_metrics[key]), _number(ann_metrics.get(stderr_key)))
            row = metric_row(
                task, metric, n, snn_estimate, ann_estimate, diff, better.get(metric, True), filt
            )
            rows.append(identity | row | choices)
    return pd.DataFrame(rows)


def evaluate_pair(
    lm: LASLM,
    tasks: Sequence[str],
    method: str = "las",
    limit: int | float | None = None,
    manager: Any = None,
    harness: str = "lm_eval",
) -> pd.DataFrame:
    """Evaluate ``lm`` (unconverted, ``method='none'``; a ``las`` model of ``harness``) as the
    ANN, convert it by ``method``, evaluate again on the same items; return :func:`result_rows`.

    One model load serves both runs (conversion is in place and shares the weights).
    """
    if lm.method != "none":
        raise ValueError(f"evaluate_pair needs an unconverted model, got method {lm.method!r}")
    manager = manager or task_manager(harness=harness)
    ann = run_tasks(lm, tasks, manager, limit, harness)
    lm.apply(method)
    snn = run_tasks(lm, tasks, manager, limit, harness)
    return result_rows(ann, snn, lm.identity())
