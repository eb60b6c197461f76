"""Stage ``evaluate_tasks``: lm-eval tasks, ANN and SNN side by side, on the same items.

Loads the model once, evaluates it unconverted (the ANN reference), converts it in place by the
configured method with the pipeline's calibration artifacts, and evaluates again on the same
items (:func:`las.evaluation.harness.evaluate_pair`). Outputs in ``output_dir``: ``tasks.csv``
(one row per task and metric: value, stderr, n, ANN value, paired delta and 95 % interval,
verdict) and ``metrics.json``. Causal LMs only: lm-eval scores log-likelihoods.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from las import models, reporting, stage
from las.evaluation.harness import evaluate_pair, task_manager
from las.evaluation.lm_eval_model import LASLM
from las.provenance import config_hash
from las.tracking import record_stage


def run(cfg: DictConfig) -> Path:
    """Evaluate as configured; return the output folder."""
    out = stage.output_dir(cfg)
    spec = stage.model_spec(cfg.model)
    if spec.task != "causal_lm":
        raise ValueError(
            f"evaluate_tasks scores log-likelihoods of causal LMs; {spec.name} is an {spec.task} "
            "model (its fidelity is measured by the evaluate stage)"
        )
    loaded = models.load(spec)
    lm = LASLM(
        pretrained=loaded.model,
        tokenizer=loaded.tokenizer,
        method="none",
        thresholds=cfg.thresholds,
        bank=cfg.bank,
        batch_size=cfg.batch_size,
        **stage.as_dict(cfg.conversion),
        model_id=loaded.model_id,
        revision=loaded.revision,
    )
    rows = evaluate_pair(
        lm,
        list(cfg.task.tasks),
        cfg.method.name,
        cfg.task.limit,
        task_manager(cfg.task.include_defaults),
    )
    rows.insert(0, "model_name", spec.name)
    rows.to_csv(out / "tasks.csv", index=False)
    digest = config_hash(
        {"thresholds": str(cfg.thresholds), "bank": str(cfg.bank)}
        | {k: stage.as_dict(cfg[k]) for k in ("conversion", "method", "task")}
    )
    fields = {
        "model_id": loaded.model_id,
        "revision": loaded.revision,
        "method": cfg.method.name,
        "T": lm.options.conversion.T,
        "task_set": cfg.task.name,
        **reporting.flatten_task_rows(rows),
    }
    record_stage(out, "evaluate_tasks", cfg, digest, fields, {"tasks": rows}, [out / "tasks.csv"])
    return out


@hydra.main(config_path="../conf", config_name="evaluate_tasks", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
