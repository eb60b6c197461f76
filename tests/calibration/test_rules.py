"""Threshold rules (METHOD.md M7): MSE beats quantile on heavy tails; fixed; validation."""

from __future__ import annotations

import pytest
import torch

from las.calibration.rules import RuleConfig, choose_thresholds
from las.calibration.stats import SiteStats
from las.neurons import OATNeuron


@pytest.fixture(scope="module")
def heavy_tailed():
    """Student-t (3 degrees of freedom) activations plus a few extreme outliers."""
    gen = torch.Generator().manual_seed(0)
    normal = torch.randn(200_000, generator=gen, dtype=torch.float64)
    chi = torch.randn(200_000, 3, generator=gen, dtype=torch.float64).pow(2).sum(1) / 3
    x = normal / chi.sqrt()
    x[:20] *= 200  # a few extreme outliers
    stats = SiteStats()
    stats.update(x)
    return x, stats


def measured_mse(x, choice, T):
    neuron = OATNeuron(choice.theta_nor, choice.theta_out, T=T)
    return float((neuron(x) - x).pow(2).mean())


@pytest.mark.parametrize("T", [4, 8])
def test_mse_rule_beats_quantile_rule(heavy_tailed, T):
    x, stats = heavy_tailed
    mse = choose_thresholds(stats, RuleConfig(name="mse"), T)
    quantile = choose_thresholds(stats, RuleConfig(name="quantile", q=0.99), T)
    assert mse.expected_mse < quantile.expected_mse
    assert measured_mse(x, mse, T) < measured_mse(x, quantile, T)
    assert 0 < mse.outlier_fraction < 0.05


def test_outer_threshold_covers_calibration_data(heavy_tailed):
    x, stats = heavy_tailed
    choice = choose_thresholds(stats, RuleConfig(name="quantile", margin=0.1), 16)
    assert choice.theta_out == pytest.approx(float(x.abs().max()) * 1.1)
    assert choice.theta_nor < choice.theta_out


def test_fixed_rule_reproduces_given_values(heavy_tailed):
    choice = choose_thresholds(
        heavy_tailed[1], RuleConfig(name="fixed", theta_nor=0.5, theta_out=9.0), 16
    )
    assert (choice.theta_nor, choice.theta_out) == (0.5, 9.0)


def test_all_zero_site_gets_positive_thresholds():
    stats = SiteStats()
    stats.update(torch.zeros(10))
    choice = choose_thresholds(stats, RuleConfig(), 16)
    assert 0 < choice.theta_nor < choice.theta_out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "kmeans"}, "name\n.*Input should be 'mse', 'quantile' or 'fixed'"),
        ({"q": 1.5}, "q\n.*less than 1"),
        ({"margin": -1.0}, "margin\n.*greater than or equal to 0"),
        ({"q": "0.9"}, "q\n.*valid number"),
        ({"name": "fixed"}, "needs theta_nor and theta_out"),
        ({"theta_nor": 0.5}, "chooses theta_nor/theta_out: leave them null"),
    ],
)
def test_invalid_rule_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RuleConfig(**kwargs)
