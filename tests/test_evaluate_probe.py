"""Stage ``evaluate_probe``: encoder probes and word similarity, ANN and SNN on the same items."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from las import tables
from las.arch.tiny import byte_tokenizer
from las.config import ConfigError
from las.evaluate_probe import EvaluateProbeConfig
from las.evaluation.harness import result_rows
from las.evaluation.probe import PROBE_DATA, ProbeConfig, ProbeSplit, probe_rows, probe_split
from las.stage import load_config
from tests.stage_chain import compose_stage, run_chain


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    """A tiny random BERT run through download -> evaluate, then evaluate_probe."""
    chain = run_chain(tmp_path_factory.mktemp("bert"), "model=tiny_bert")
    chain.run("evaluate_probe")
    return chain


def lm_eval_columns() -> list[str]:
    """The columns of an evaluate_tasks ``tasks.csv`` (one multiple-choice task, two items)."""
    samples = [
        {"doc_id": i, "acc": float(i), "filtered_resps": [(0.0, False), (-1.0, False)]}
        for i in range(2)
    ]
    run = {
        "results": {"t": {"acc,none": 0.5, "acc_stderr,none": 0.5}},
        "n-samples": {"t": {"effective": 2}},
        "samples": {"t": samples},
    }
    identity = dict.fromkeys(("model", "revision", "method", "T", "thresholds_hash"))
    return ["model_name", *result_rows(run, run, identity).columns]


def test_rows_have_the_columns_and_items_of_the_task_rows(bert):
    table = pd.read_csv(bert.dir("evaluate_probe") / "tasks.csv")
    assert list(table.columns) == lm_eval_columns()
    rows = table.set_index(["task", "metric"])
    probes = rows.loc[["probe_sentiment", "probe_topic"]]
    assert set(probes.index.get_level_values("metric")) == {"acc", "acc_transfer"}
    assert (probes["n"] == 30).all()
    for column in ("value", "ann_value", "prediction_agreement", "snn_majority_share"):
        assert probes[column].between(0, 1).all(), column
    assert probes["delta_ci_low"].le(probes["delta"]).all()
    assert rows.loc[("similarity_wordsim353", "spearman"), "n"] == 353
    assert set(rows["T"]) == {16} and set(rows["method"]) == {"las"}
    convert = json.loads((bert.dir("convert") / "metrics.json").read_text())
    assert set(rows["thresholds_hash"]) == {convert["thresholds_hash"]}


def test_the_probe_split_is_fixed(bert, tmp_path):
    """A second run (the sentiment probe alone) gives the same rows for it."""
    overrides = ("~probe.tasks.topic", "similarity.sets=[]", f"output_dir={tmp_path}")
    again = bert.run("evaluate_probe", *overrides)
    first = pd.read_csv(bert.dir("evaluate_probe") / "tasks.csv")
    first = first[first["task"] == "probe_sentiment"].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_csv(again / "tasks.csv"), first)
    rows = PROBE_DATA["sentiment"]()
    train, test = probe_split(rows, ProbeSplit(train=40, test=30), 0, "sentiment")
    assert not set(train["text"]) & set(test["text"]) and (len(train), len(test)) == (40, 30)


def test_table_1_lists_the_probe_rows(bert, tmp_path):
    probe = bert.dir("evaluate_probe") / "metrics.json"
    record = bert.dir("evaluate") / "metrics.json"
    tables.main(["--out", str(tmp_path), "--probes", str(probe), "--", str(record)])
    table = pd.read_csv(tmp_path / "tasks.csv")
    rows = pd.read_csv(bert.dir("evaluate_probe") / "tasks.csv")
    assert len(table) == len(rows) and set(table["model"]) == {"tiny_bert"}
    for row in rows.itertuples():
        (cell,) = table[(table.task == row.task) & (table.metric == row.metric)]["delta [95% CI]"]
        assert cell.startswith(f"{row.delta:+.4g} ")


def test_sentence_embeddings_batch_longest_first_and_keep_the_texts_order():
    from las.arch.tiny import tiny_model
    from las.evaluation.probe import sentence_embeddings

    model, tokenizer = tiny_model("bert").eval(), byte_tokenizer()
    texts = ["ab", "a much longer sentence", "mid size", "x", "another long one"]
    batched = sentence_embeddings(model, tokenizer, texts, batch_size=2, max_length=64)
    alone = torch.cat([sentence_embeddings(model, tokenizer, [t], 1, 64) for t in texts])
    assert batched.shape == (5, alone.shape[1])
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-6)
    padded = []
    real = tokenizer.__class__.__call__

    def spy(self, batch, **kwargs):
        padded.append(max(map(len, batch)))
        return real(self, batch, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tokenizer.__class__, "__call__", spy)
        sentence_embeddings(model, tokenizer, texts, batch_size=2, max_length=64)
    assert padded == sorted(padded, reverse=True) and padded[0] == len(texts[1])


def test_a_constant_snn_embedding_is_flagged():
    gen = torch.Generator().manual_seed(0)
    labels = [0, 1] * 20
    ann = torch.randn(40, 8, generator=gen, dtype=torch.float64) + torch.tensor(labels)[:, None]
    constant = torch.ones(40, 8, dtype=torch.float64)
    cfg = ProbeConfig(tasks={}, seed=0, max_iter=100)
    acc, transfer = probe_rows("toy", (ann, constant), (ann, constant), (labels, labels), cfg)
    assert acc["ann_majority_share"] < 0.9 and acc["snn_majority_share"] == 1.0
    assert acc["flag"] == "one choice on > 90 % of items (SNN 100%)"
    assert acc["value"] == 0.5 and transfer["snn_majority_share"] == 1.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("probe.tasks.sentiment.train=0", "greater than 0"),
        ("+probe.tasks.parity={train:2,test:2}", "parity"),
        ("similarity.sets=[wordsim999]", "wordsim999"),
        ("probe.seed=-1", "greater than or equal to 0"),
        ("max_length=32.5", "max_length"),
    ],
)
def test_bad_config_values_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(EvaluateProbeConfig, compose_stage("evaluate_probe", override))


def test_causal_lms_and_oversized_splits_are_refused():
    with pytest.raises(ConfigError, match="evaluate_tasks stage"):
        load_config(EvaluateProbeConfig, compose_stage("evaluate_probe", "model=tiny_llama"))
    with pytest.raises(ValueError, match=r"probe.tasks.sentiment: train 150 \+ test 80"):
        probe_split(PROBE_DATA["sentiment"](), ProbeSplit(train=150, test=80), 0, "sentiment")
