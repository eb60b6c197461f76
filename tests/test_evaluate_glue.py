"""Stage ``evaluate_glue``: paired ANN/SNN rows of a converted classifier on a GLUE-format task."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from las.arch.tiny import tiny_model
from las.config import ConfigError
from las.evaluation.glue import METRICS, GlueTaskConfig, check_labels, glue_rows
from las.reporting import TASK_FIELDS
from las.stage import load_config
from tests.stage_chain import STAGES, compose_stage, config_class, run_chain, run_stage

#: The columns of evaluate_tasks' rows (las.evaluation.harness.result_rows, model_name first).
ROW_COLUMNS = [
    "model_name",
    *("model", "revision", "method", "T", "thresholds_hash"),
    *("task", "metric", "filter"),
    *TASK_FIELDS,
]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """The tiny chain (download -> convert) of the tiny random BERT classifier."""
    root = tmp_path_factory.mktemp("glue")
    return run_chain(root, "model=tiny_bert_classifier", STAGES[:-1])


def run_glue(chain, task: str, out) -> pd.DataFrame:
    run_stage(
        "evaluate_glue",
        chain.model,
        f"glue={task}",
        "tracking=disabled",
        "max_length=64",
        f"converted={chain.dir('convert')}",
        f"output_dir={out}",
    )
    return pd.read_csv(out / "glue.csv", keep_default_na=False, na_values=[""])


@pytest.mark.parametrize("task", ["plumbing_sst2", "plumbing_rte"])
def test_rows_pair_the_ann_and_the_converted_classifier(classifier, task, tmp_path):
    rows = run_glue(classifier, task, tmp_path)
    cfg = GlueTaskConfig(**dict(compose_stage("evaluate_glue", f"glue={task}").glue))
    assert list(rows.columns) == ROW_COLUMNS
    assert list(rows["metric"]) == cfg.metrics and set(rows["task"]) == {task}
    assert (rows["n"] == len(cfg.items())).all()
    assert set(rows["method"]) == {"las"} and set(rows["T"]) == {16}
    convert = json.loads((classifier.dir("convert") / "metrics.json").read_text())
    assert set(rows["thresholds_hash"]) == {convert["thresholds_hash"]}
    assert np.allclose(rows["delta"], rows["value"] - rows["ann_value"])
    assert (rows["delta_ci_low"] <= rows["delta"]).all()
    assert (rows["delta"] <= rows["delta_ci_high"]).all()
    assert rows["prediction_agreement"].between(0, 1).all()
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["task_set"] == task and record["model_id"] == "tiny-bert_classifier"
    assert record[f"{task}/acc/delta"] == rows.set_index("metric").loc["acc", "delta"]


def test_identical_outputs_give_zero_deltas_and_full_agreement():
    cfg = GlueTaskConfig(**dict(compose_stage("evaluate_glue", "glue=plumbing_rte").glue))
    gold = np.array([0, 1, 0, 1, 1, 0, 0, 1])
    logits = torch.randn(8, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rows = glue_rows(cfg, gold, logits, logits.clone(), {"model": "m"})
    assert (rows["delta"] == 0).all() and (rows["prediction_agreement"] == 1).all()
    assert set(rows["verdict"]) == {"equal within 95% CI"}
    pred = logits.argmax(-1).numpy()
    for row in rows.itertuples():
        assert row.value == row.ann_value == METRICS[row.metric](pred, gold)


def test_a_regression_task_has_no_choice_measures():
    cfg = GlueTaskConfig(**dict(compose_stage("evaluate_glue", "glue=stsb").glue))
    gold = np.linspace(0, 5, 12)
    ann = torch.from_numpy(gold + 0.1)[:, None]
    rows = glue_rows(cfg, gold, ann, ann + 0.05, {"model": "m"})
    assert list(rows["metric"]) == ["pearson", "spearman"]
    assert rows["prediction_agreement"].isna().all() and (rows["delta"].abs() < 1e-12).all()


def test_a_checkpoint_for_another_task_is_refused():
    model = tiny_model("bert_classifier")
    mnli = GlueTaskConfig(**dict(compose_stage("evaluate_glue", "glue=mnli").glue))
    with pytest.raises(ValueError, match="3 output"):
        check_labels(mnli, model)
    rte = GlueTaskConfig(**dict(compose_stage("evaluate_glue", "glue=rte").glue))
    model.config.id2label = {0: "not_entailment", 1: "entailment"}
    with pytest.raises(ValueError, match="in order"):
        check_labels(rte, model)
    model.config.id2label = {0: "entailment", 1: "not_entailment"}
    check_labels(rte, model)


def test_a_causal_lm_is_refused_before_any_compute():
    cfg = compose_stage("evaluate_glue", "model=tiny_llama", "converted=nowhere")
    with pytest.raises(ConfigError, match="sequence_classification"):
        load_config(config_class("evaluate_glue"), cfg)
