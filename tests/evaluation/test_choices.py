"""Multiple-choice measures: agreement, log-likelihood difference, the degenerate-model flag."""

from __future__ import annotations

import math

import pytest

from las.evaluation.choices import choice_logliks, choice_measures


def samples(logliks):
    return [
        {"doc_id": i, "filtered_resps": [(ll, False) for ll in row]}
        for i, row in enumerate(logliks)
    ]


def test_a_constant_predictor_is_flagged():
    constant = samples([[0.0, -1.0, -2.0]] * 10)  # always choice 0
    varied = samples([[-float(i % 3 == k) for k in range(3)] for i in range(10)])
    measures = choice_measures(constant, varied)
    assert measures["ann_majority_share"] == 1.0 and measures["snn_majority_share"] < 0.9
    assert measures["flag"] == "one choice on > 90 % of items (ANN 100%)"
    assert choice_measures(varied, varied)["flag"] == ""


def test_agreement_and_loglik_difference():
    ann = samples([[0.0, -1.0], [-1.0, 0.0], [0.0, -1.0], [0.0, -1.0]])
    snn = samples([[0.0, -1.5], [0.0, -1.0], [0.0, -1.0], [0.0, -1.0]])
    measures = choice_measures(ann, snn)
    assert measures["prediction_agreement"] == 0.75
    assert math.isclose(measures["choice_loglik_mad"], (0.5 + 1 + 1) / 8)


def test_items_are_matched_by_doc_id_and_non_choice_tasks_have_none():
    ann = samples([[0.0, -1.0], [-1.0, 0.0]])
    assert choice_measures(ann, list(reversed(ann)))["prediction_agreement"] == 1.0
    perplexity = [{"doc_id": 0, "filtered_resps": [-12.5]}]
    assert choice_logliks(perplexity) is None and choice_measures(perplexity, perplexity) is None
    with pytest.raises(ValueError, match="samples differ"):
        choice_measures(ann, samples([[0.0, -1.0, -2.0]] * 2))
