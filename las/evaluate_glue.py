"""Stage ``evaluate_glue``: a GLUE task on a fine-tuned classifier, ANN and SNN on the same items.

Reads a converted-model folder (the ``convert`` stage) of a sequence-classification checkpoint
(``model.task: sequence_classification``, e.g. BERT-base fine-tuned on one GLUE task), loads the
original once, scores it on the task's items (the ANN), converts it in place as the folder says
and scores it again (the SNN): :mod:`las.evaluation.glue`. The converted part is the encoder
(the ``bert`` adapter's blocks and embedding LayerNorm); the pooler (dense + tanh) and the
classifier stay float, as every layer outside the blocks other than the final norm and an LM
head does. Outputs in ``output_dir``: ``glue.csv`` (one row per metric, the columns of
``evaluate_tasks``' ``tasks.csv``) and ``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path

from las import reporting
from las.config import PositiveInt, Str, plain, typed
from las.converted import MANIFEST, ConvertedModel
from las.evaluation.glue import GlueTaskConfig, check_labels, glue_rows, predict
from las.models import ModelSpec
from las.stage import Input, StageConfig, StageContext, StageResult, entry_point


@typed
class EvaluateGlueConfig(StageConfig, stage="evaluate_glue", paths=("converted",)):
    """``conf/evaluate_glue.yaml``: the task, the classifier's converted folder, the batching.

    ``max_length``: tokens per item (longer items are truncated, for the ANN and SNN alike).
    """

    model: ModelSpec
    glue: GlueTaskConfig
    batch_size: PositiveInt
    max_length: PositiveInt
    converted: Str

    def __post_init__(self) -> None:
        if self.model.task != "sequence_classification":
            raise ValueError(
                f"evaluate_glue scores a fine-tuned classifier (model.task: "
                f"sequence_classification); {self.model.name} is a {self.model.task} model"
            )

    def inputs(self) -> dict[str, Input]:
        expect = {"convert.model": plain(self.model)}
        return {"converted": Input(Path(self.converted) / MANIFEST, "convert", expect)}


def run(cfg: EvaluateGlueConfig, ctx: StageContext) -> StageResult:
    """Evaluate as configured."""
    converted = ConvertedModel.read(cfg.converted)
    loaded = converted.load_original()
    check_labels(cfg.glue, loaded.model)
    items = cfg.glue.items()
    scores = [cfg.glue.text, cfg.batch_size, cfg.max_length]
    ann = predict(loaded.model, loaded.tokenizer, items, *scores)
    snn_model = converted.apply(loaded.model)
    snn = predict(snn_model, loaded.tokenizer, items, *scores)
    identity = {
        "model": loaded.model_id,
        "revision": loaded.revision,
        "method": converted.method,
        "T": converted.conversion.T,
        "thresholds_hash": snn_model.las_thresholds_hash,
    }
    rows = glue_rows(cfg.glue, items["label"].to_numpy(), ann, snn, identity)
    rows.insert(0, "model_name", cfg.model.name)
    fields = {
        "model_id": loaded.model_id,
        "revision": loaded.revision,
        "method": converted.method,
        "T": converted.conversion.T,
        "task_set": cfg.glue.name,
        "dataset": cfg.glue.dataset,
        "dataset_revision": cfg.glue.revision,
        "split": cfg.glue.split,
        **converted.labels,
        **reporting.flatten_task_rows(rows),
    }
    return StageResult(fields, {"glue": rows}, ["glue.csv"])


main = entry_point(EvaluateGlueConfig, run)

if __name__ == "__main__":
    main()
