"""Stage ``finetune_qcfs``: FAS Stage 1, fine-tuning with QCFS (``python -m las.finetune_qcfs``).

Loads the original causal LM, replaces every FFN activation by QCFS (METHOD.md M9; in a gated
FFN the gate's activation), initialises each clip ``lam`` from the calibration text and trains
every parameter on it (:mod:`las.fas.finetune`). Outputs in ``output_dir``:
``weights.safetensors`` (the fine-tuned parameters, the clips included, with identity and
lineage), ``loss_curve.csv`` (loss per step, mirrored to W&B as a table), ``qcfs_sites.csv``
(initial and trained ``lam`` per site) and ``metrics.json`` (held-out loss of the original, of
QCFS before and after fine-tuning, and the budget: steps and tokens). An interrupted run resumes
from its last checkpoint (``output_dir/.finetune_qcfs-<config hash>.ckpt``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from las import data, models
from las.config import typed
from las.fas.finetune import FinetuneConfig, finetune, mean_loss
from las.fas.qcfs import WEIGHTS, ffn_sites, initial_lams, save_qcfs_model, swap_qcfs
from las.stage import StageConfig, StageContext, StageResult, entry_point


@typed
class FinetuneQCFSConfig(StageConfig, stage="finetune_qcfs"):
    """``conf/finetune_qcfs.yaml``: the model, its calibration text, the fine-tuning budget."""

    model: models.ModelSpec
    data: data.DataConfig
    finetune: FinetuneConfig

    def __post_init__(self) -> None:
        why = "trains on the next-token loss of causal LMs"
        self.model.require_task("causal_lm", "finetune_qcfs", why)


def run(cfg: FinetuneQCFSConfig, ctx: StageContext) -> StageResult:
    """Fine-tune as configured."""
    loaded = models.load(cfg.model)
    model, tune = loaded.model, cfg.finetune
    batches = data.calibration_batches(loaded.tokenizer, cfg.data)
    held_out = data.evaluation_batches(loaded.tokenizer, cfg.data)
    ann_loss = mean_loss(model, held_out)
    lams = initial_lams(model, batches, tune.lam_quantile)
    sites = swap_qcfs(model, lams, tune.levels)
    before = mean_loss(model, held_out)
    checkpoint = Path(cfg.output_dir) / f".finetune_qcfs-{ctx.config_hash}.ckpt"
    curve = finetune(model, sites, batches, tune, checkpoint)
    identity = ctx.identity(loaded.model_id, loaded.revision)
    save_qcfs_model(ctx.work / WEIGHTS, model, identity, tune.levels)
    table = pd.DataFrame(
        [{"site": n, "lam_initial": lams[n], "lam": float(m.lam)} for n, m in sites.items()]
    )
    gated = ffn_sites(model)[0].gated
    tokens = sum(int(batches[(s - 1) % len(batches)]["input_ids"].numel()) for s in curve.step)
    fields = {
        "model_id": loaded.model_id,
        "revision": loaded.revision,
        "qcfs_sites": len(table),
        "qcfs_replaces": "the gate's activation (gated FFN)" if gated else "the FFN activation",
        "steps": tune.steps,
        "tokens_trained": tokens,
        "final_train_loss": float(curve.loss.iloc[-1]) if len(curve) else None,
        "ann_eval_loss": ann_loss,
        "qcfs_eval_loss_before": before,
        "qcfs_eval_loss_after": mean_loss(model, held_out),
    }
    tables = {"loss_curve": curve, "qcfs_sites": table}
    return StageResult(fields, tables, [WEIGHTS, "loss_curve.csv", "qcfs_sites.csv"])


main = entry_point(FinetuneQCFSConfig, run)

if __name__ == "__main__":
    main()
