"""Stage ``evaluate_probe``: encoders on real tasks, ANN and SNN on the same items.

Reads a converted encoder folder (the ``convert`` stage), loads the original once and converts a
copy as the folder says, embeds the same texts with both and measures them
(:mod:`las.evaluation.probe`): linear probes on frozen sentence embeddings (sentiment: Pang &
Lee; topic: BBC News) and word similarity (WordSim-353, SimLex-999). Outputs in ``output_dir``:
``tasks.csv`` (the columns of ``evaluate_tasks``'s rows: task, metric, SNN value and stderr, n,
ANN value, paired delta and 95 % interval, verdict, agreement, majority shares, flag) and
``metrics.json``. Encoders only.
"""

from __future__ import annotations

import copy
from functools import partial
from pathlib import Path

import pandas as pd

from las import corpora, reporting
from las.config import PositiveInt, Str, plain, typed
from las.converted import MANIFEST, ConvertedModel
from las.evaluation.probe import (
    PROBE_DATA,
    ProbeConfig,
    SimilarityConfig,
    pair_similarities,
    probe_rows,
    probe_split,
    sentence_embeddings,
    similarity_row,
)
from las.models import ModelSpec
from las.stage import Input, StageConfig, StageContext, StageResult, entry_point


@typed
class EvaluateProbeConfig(StageConfig, stage="evaluate_probe", paths=("converted",)):
    """``conf/evaluate_probe.yaml``: the encoder and its converted folder, probes, similarity.

    ``batch_size``: texts per forward pass; ``max_length``: tokens per text (truncation; 256 is
    all-MiniLM-L6-v2's ``max_seq_length``).
    """

    model: ModelSpec
    probe: ProbeConfig
    similarity: SimilarityConfig
    batch_size: PositiveInt
    max_length: PositiveInt
    converted: Str

    def __post_init__(self) -> None:
        why = "embeds sentences with encoders (a causal LM's tasks: the evaluate_tasks stage)"
        self.model.require_task("encoder", "evaluate_probe", why)

    def inputs(self) -> dict[str, Input]:
        expect = {"convert.model": plain(self.model)}
        return {"converted": Input(Path(self.converted) / MANIFEST, "convert", expect)}


def run(cfg: EvaluateProbeConfig, ctx: StageContext) -> StageResult:
    """Evaluate as configured."""
    splits = {
        task: probe_split(PROBE_DATA[task](), split, cfg.probe.seed, task)
        for task, split in cfg.probe.tasks.items()
    }
    converted = ConvertedModel.read(cfg.converted)
    loaded = converted.load_original()
    snn = converted.apply(copy.deepcopy(loaded.model))
    embedders = [
        partial(
            sentence_embeddings,
            m,
            loaded.tokenizer,
            batch_size=cfg.batch_size,
            max_length=cfg.max_length,
        )
        for m in (loaded.model, snn)
    ]
    rows = []
    for task, (train, test) in splits.items():
        train_x = tuple(embed(train["text"]) for embed in embedders)
        test_x = tuple(embed(test["text"]) for embed in embedders)
        rows += probe_rows(task, train_x, test_x, (train["label"], test["label"]), cfg.probe)
    for name in cfg.similarity.sets:
        pairs = corpora.word_pairs(name)
        ann, snn_sims = (pair_similarities(embed, pairs) for embed in embedders)
        human = [p.score for p in pairs]
        rows.append(similarity_row(name, ann, snn_sims, human, cfg.similarity.seed))
    identity = {
        "model": loaded.model_id,
        "revision": loaded.revision,
        "method": converted.method,
        "T": converted.conversion.T,
        "thresholds_hash": snn.las_thresholds_hash,
    }
    table = pd.DataFrame([identity | row for row in rows])
    table.insert(0, "model_name", cfg.model.name)
    fields = {
        "model_id": loaded.model_id,
        "revision": loaded.revision,
        "method": converted.method,
        "T": converted.conversion.T,
        **reporting.flatten_task_rows(table),
    }
    return StageResult(fields, {"tasks": table}, ["tasks.csv"])


main = entry_point(EvaluateProbeConfig, run)

if __name__ == "__main__":
    main()
