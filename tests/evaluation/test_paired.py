"""Paired differences: mean metrics, bootstrap of perplexities and rank correlations."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import spearmanr

from las.evaluation.paired import paired_difference, spearman


def test_identical_runs_have_zero_width_interval():
    d = paired_difference("acc", [1.0, 0.0, 1.0], [1.0, 0.0, 1.0])
    assert (d.delta, d.low, d.high, d.verdict()) == (0.0, 0.0, 0.0, "equal within 95% CI")


def test_clear_improvement_is_called_only_outside_the_interval():
    ann = [0.0] * 50 + [1.0] * 50
    better = [1.0] * 100
    assert paired_difference("acc", ann, better).verdict() == "snn better"
    assert paired_difference("acc", ann, better).verdict(higher_is_better=False) == "snn worse"
    one_flip = ann[:]
    one_flip[0] = 1.0
    assert paired_difference("acc", ann, one_flip).verdict() == "equal within 95% CI"


def test_perplexity_pairs_aggregate_like_lm_eval():
    ann = [(-10.0, 5), (-20.0, 10)]
    snn = [(-12.0, 5), (-20.0, 10)]
    d = paired_difference("word_perplexity", ann, snn)
    assert d.delta == pytest.approx(math.exp(32 / 15) - math.exp(30 / 15))
    assert d.low <= d.delta <= d.high
    with pytest.raises(ValueError, match="items differ"):
        paired_difference("word_perplexity", ann, [(-12.0, 6), (-20.0, 10)])


def test_text_samples_have_no_difference():
    assert paired_difference("exact_match", ["a"], ["b"]) is None


def test_spearman_pairs_are_bootstrapped_and_match_scipy():
    gen = torch.Generator().manual_seed(0)
    human = torch.randint(0, 5, (50,), generator=gen).double()  # ties, as human scores have
    ann = human + torch.randn(50, generator=gen, dtype=torch.float64)
    snn = ann + 0.01 * torch.randn(50, generator=gen, dtype=torch.float64)
    assert float(spearman(ann, human)) == pytest.approx(spearmanr(ann, human).statistic)
    pairs = [torch.stack([v, human], -1).tolist() for v in (ann, snn)]
    d = paired_difference("spearman", *pairs)
    assert d.low <= d.delta <= d.high and d.verdict() == "equal within 95% CI"
    assert d.delta == pytest.approx(float(spearman(snn, human) - spearman(ann, human)))
    same = paired_difference("spearman", pairs[0], pairs[0])
    assert (same.delta, same.low, same.high) == (0.0, 0.0, 0.0)
