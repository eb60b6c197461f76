"""Measures of multiple-choice tasks that cannot collapse into a constant (ANN vs SNN, per item).

Accuracy alone can hide everything: a model answering "A" on every item scores the share of
gold "A"s whatever its conversion does. From per-item, per-choice log-scores of the same items
for both models (:func:`score_measures`: lm-eval's per-choice log-likelihoods in
``filtered_resps``, :func:`choice_measures`, or a linear probe's class log-probabilities,
:mod:`las.evaluation.probe`) this module gives, besides accuracy, the share of items where ANN and
SNN predict the same choice, the mean absolute difference of the per-choice log-scores, each
model's majority share (items on its most predicted choice), and a flag when a model predicts
one choice on more than :data:`DEGENERATE_SHARE` of the items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

#: A model predicting one choice on more than this share of items is flagged as degenerate.
DEGENERATE_SHARE = 0.9


def choice_logliks(samples: Sequence[Mapping[str, Any]]) -> torch.Tensor | None:
    """``[items, choices]`` log-likelihoods of multiple-choice samples (sorted by ``doc_id``).

    None when the samples are not multiple-choice (one response, or unequal choice counts).
    """
    rows = [s["filtered_resps"] for s in sorted(samples, key=lambda s: s["doc_id"])]
    if not rows or any(not isinstance(r, list | tuple) or len(r) < 2 for r in rows):
        return None
    if len({len(r) for r in rows}) != 1 or not all(isinstance(c, list | tuple) for c in rows[0]):
        return None
    return torch.tensor([[float(c[0]) for c in r] for r in rows], dtype=torch.float64)


def majority_share(predictions: torch.Tensor) -> float:
    """Share of items on the most frequent prediction."""
    return float(torch.bincount(predictions).max()) / len(predictions)


def degenerate_flag(shares: Mapping[str, float]) -> str:
    """A note naming each model that predicts one choice on > 90 % of items, else ``""``."""
    flagged = [f"{who} {share:.0%}" for who, share in shares.items() if share > DEGENERATE_SHARE]
    return f"one choice on > 90 % of items ({', '.join(flagged)})" if flagged else ""


#: The choice measures of a task that has no choices (perplexity, generation, correlation).
NO_CHOICES = {
    "prediction_agreement": float("nan"),
    "choice_loglik_mad": float("nan"),
    "ann_majority_share": float("nan"),
    "snn_majority_share": float("nan"),
    "flag": "",
}


def score_measures(ann: torch.Tensor, snn: torch.Tensor) -> dict[str, Any]:
    """Agreement, log-score difference, majority shares and flag of ``[items, choices]``
    log-scores of the same items (a prediction is the argmax over choices).

    Raises ``ValueError`` when the shapes differ (different items or choices).
    """
    if ann.shape != snn.shape:
        raise ValueError(
            f"ANN and SNN samples differ in shape: {tuple(ann.shape)} vs {tuple(snn.shape)}"
        )
    pred_a, pred_s = ann.argmax(-1), snn.argmax(-1)
    shares = {"ANN": majority_share(pred_a), "SNN": majority_share(pred_s)}
    return {
        "prediction_agreement": float((pred_a == pred_s).double().mean()),
        "choice_loglik_mad": float((ann - snn).abs().mean()),
        "ann_majority_share": shares["ANN"],
        "snn_majority_share": shares["SNN"],
        "flag": degenerate_flag(shares),
    }


def choice_measures(
    ann: Sequence[Mapping[str, Any]], snn: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """:func:`score_measures` of one lm-eval task's samples (``ann``/``snn``: the same items).

    Returns None for tasks that are not multiple-choice; raises ``ValueError`` when the two runs
    saw different items or choices.
    """
    a, s = choice_logliks(ann), choice_logliks(snn)
    if a is None or s is None:
        return None
    return score_measures(a, s)
