"""The ``las`` lm-eval model: unchanged without conversion, paired rows with conversion."""

from __future__ import annotations

import functools
import math
import socket

import pytest
from lm_eval.models.huggingface import HFLM

from las.arch.tiny import byte_tokenizer, tiny_model
from las.evaluation.harness import evaluate_pair, run_tasks, task_manager
from las.evaluation.lm_eval_model import LASLM
from las.evaluation.methods import METHODS

LIMIT = 6
TASK = "las_mmlu_embedded"


@pytest.fixture(scope="module")
def manager():
    return task_manager()


def tiny_lm(**kwargs) -> LASLM:
    return LASLM(pretrained="tiny:llama", batch_size=4, calibration_sequences=4, **kwargs)


def test_network_is_refused_in_tests():
    with pytest.raises(RuntimeError, match="network access"):
        socket.create_connection(("example.com", 80), timeout=1)
    with pytest.raises(RuntimeError, match="network access"):
        socket.socket().connect(("192.0.2.1", 80))


def test_method_none_equals_plain_hf_model(manager):
    plain = HFLM(pretrained=tiny_model("llama"), tokenizer=byte_tokenizer(), batch_size=4)
    ours = tiny_lm(method="none")
    a = run_tasks(plain, [TASK], manager, LIMIT)
    b = run_tasks(ours, [TASK], manager, LIMIT)
    assert a["results"][TASK]["acc,none"] == b["results"][TASK]["acc,none"]
    resps = [[s["resps"] for s in r["samples"][TASK]] for r in (a, b)]
    assert resps[0] == resps[1]


def test_rolling_scores_are_batched_longest_first_and_returned_in_request_order(monkeypatch):
    """Padding is what a batch of mixed lengths wastes: the windows come sorted, the scores
    come back in the caller's order, each equal to its document scored alone."""
    from lm_eval.api.instance import Instance

    texts = ["a b", "a much longer document " * 6, "medium sized text " * 2, "tiny"]
    requests = [Instance("loglikelihood_rolling", {}, (text,), i) for i, text in enumerate(texts)]
    lm = tiny_lm(method="none")
    alone = [lm.loglikelihood_rolling([r], disable_tqdm=True)[0] for r in requests]
    lengths = []
    score = LASLM._loglikelihood_tokens

    def spy(self, requests, *args, **kwargs):
        lengths.extend(len(r[1]) + len(r[2]) for r in requests)
        return score(self, requests, *args, **kwargs)

    monkeypatch.setattr(LASLM, "_loglikelihood_tokens", spy)
    together = lm.loglikelihood_rolling(requests, disable_tqdm=True)
    assert lengths == sorted(lengths, reverse=True) and len(set(lengths)) > 1
    assert together == pytest.approx(alone, rel=1e-5)
    assert together[0] != together[1]


@pytest.mark.parametrize("method", ["none", "las"])
def test_scores_from_the_kept_positions_equal_hflm_scores(method, monkeypatch):
    """The head runs on the continuation positions only (``logits_to_keep``): the scores and
    greedy flags are ``HFLM``'s on every shape of request (one-token choices sharing a
    context, long continuations, a window truncated to ``max_length``)."""
    lm = tiny_lm(method=method, T=8, max_length=24)
    requests = [
        (("k", str(i)), list(ctx), list(cont))
        for i, (ctx, cont) in enumerate(
            [
                (range(1, 9), [9]),
                (range(1, 9), [10]),
                (range(1, 9), [11, 12]),  # shared context
                (range(3, 6), range(6, 16)),  # continuation longer than its context
                (range(1, 40), [5, 6]),  # truncated from the left to max_length
                ([7], [8]),
            ]
        )
    ]
    kept = []
    forward = lm.model.forward

    @functools.wraps(forward)  # the same signature: logits_to_keep is seen
    def spy(*args, **kwargs):
        kept.append((args[0].shape[1], kwargs["logits_to_keep"]))
        return forward(*args, **kwargs)

    monkeypatch.setattr(lm.model, "forward", spy)
    with pytest.warns(UserWarning, match="truncated from the left"):
        ours = lm._loglikelihood_tokens(requests, disable_tqdm=True)
    monkeypatch.setattr(lm.model, "forward", forward)
    reference = HFLM._loglikelihood_tokens(lm, requests, disable_tqdm=True)
    assert [g for _, g in ours] == [g for _, g in reference]
    assert [s for s, _ in ours] == pytest.approx([s for s, _ in reference], rel=1e-5, abs=1e-6)
    assert len({s for s, _ in ours}) == len(requests)
    assert any(keep < width for width, keep in kept)


def test_converted_rows_carry_the_ann_reference(manager):
    rows = evaluate_pair(tiny_lm(method="none", T=8), [TASK, "las_prose_ppl"], "las", 4, manager)
    assert set(rows["task"]) == {TASK, "las_prose_ppl"}
    assert set(rows["method"]) == {"las"} and set(rows["T"]) == {8}
    assert rows["thresholds_hash"].str.len().eq(16).all()
    for row in rows.itertuples():
        assert row.n == 4
        assert math.isfinite(row.value) and math.isfinite(row.ann_value)
        assert row.delta_ci_low <= row.delta <= row.delta_ci_high
        assert row.delta == pytest.approx(row.value - row.ann_value, rel=1e-9, abs=1e-12)
    acc = rows[rows.metric == "acc"].iloc[0]
    assert 0.0 <= acc.prediction_agreement <= 1.0 and acc.choice_loglik_mad > 0
    ppl = rows[rows.metric == "word_perplexity"].iloc[0]
    assert math.isnan(ppl.prediction_agreement) and ppl.flag == ""
    assert ppl.value != ppl.ann_value  # the SNN really ran (T=8 perturbs the log-likelihoods)


def test_unknown_method_lists_available():
    with pytest.raises(ValueError, match="unknown method 'snn'; available: fas, las, naive, none"):
        tiny_lm(method="snn")
    assert set(METHODS) == {"none", "las", "fas", "naive"}


def test_fas_without_a_converted_folder_names_its_stages():
    with pytest.raises(ValueError, match=r"finetune_qcfs stage .* calibrate_fas"):
        tiny_lm(method="fas")


def test_naive_calibrates_on_the_fly_without_a_folder():
    from las.neurons import IFNeuron

    lm = tiny_lm(method="naive")
    assert lm.method == "naive" and any(isinstance(m, IFNeuron) for m in lm.model.modules())


def test_calibration_artifacts_must_come_in_pairs(tmp_path):
    with pytest.raises(ValueError, match="both calibration artifacts"):
        tiny_lm(method="las", thresholds=str(tmp_path / "t.safetensors"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"Tee": 8}, r"unknown las model argument\(s\) \['Tee'\]"),
        ({"oat": "no"}, r"oat: got 'no' \(str\): Input should be a valid boolean"),
        ({"T": 64}, r"T: got 64 \(int\): Input should be less than or equal to 29"),
        ({"calibration_rule": "kmeans"}, r"name: got 'kmeans'"),
    ],
)
def test_model_args_parse_into_the_typed_config(args, message):
    """Failure 4: unknown keys and wrong values are refused, before any calibration."""
    from las.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        tiny_lm(method="las", **args)


def test_an_encoder_asset_is_refused_by_name():
    with pytest.raises(ValueError, match=r"minilm-l6-v2 is an encoder model.*evaluate"):
        LASLM(pretrained="embedded:minilm-l6-v2")


def test_a_converted_folder_is_a_pretrained_model(chain, manager):
    lm = LASLM(pretrained=str(chain.dir("convert")), batch_size=4)
    assert lm.method == "las" and lm.options.conversion.T == 16
    assert lm.identity()["thresholds_hash"] is not None
    result = run_tasks(lm, [TASK], manager, 2)
    assert result["n-samples"][TASK]["effective"] == 2
    from las.config import ConfigError

    with pytest.raises(ConfigError, match="is a converted model"):
        LASLM(pretrained=str(chain.dir("convert")), T=8)
