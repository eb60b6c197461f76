"""Measures of multiple-choice tasks that cannot collapse into a constant (ANN vs SNN, per item).

Accuracy alone can hide everything: a model answering "A" on every item scores the share of
gold "A"s whatever its conversion does. From lm-eval's per-item samples of the same items (the
per-choice log-likelihoods in ``filtered_resps``) this module gives, besides accuracy, the share
of items where ANN and SNN predict the same choice, the mean absolute difference of the per-choice
log-likelihoods, each model's majority share (items on its most predicted choice), and a flag
when a model predicts one choice on more than :data:`DEGENERATE_SHARE` of the items.
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


def choice_measures(
    ann: Sequence[Mapping[str, Any]], snn: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """Agreement, log-likelihood difference, majority shares and flag of one task's samples.

    ``ann``/``snn``: lm-eval samples of the same items. Returns None for tasks that are not
    multiple-choice; raises ``ValueError`` when the two runs saw different items or choices.
    """
    a, s = choice_logliks(ann), choice_logliks(snn)
    if a is None or s is None:
        return None
    return loglik_measures(a, s)


def loglik_measures(a: torch.Tensor, s: torch.Tensor) -> dict[str, Any]:
    """The measures of :func:`choice_measures` from ``[items, choices]`` log-likelihoods of the
    ANN (``a``) and the SNN (``s``) on the same items (also a classifier's log-probabilities per
    class, :mod:`las.evaluation.glue`); ``ValueError`` when the shapes differ."""
    if a.shape != s.shape:
        raise ValueError(
            f"ANN and SNN samples differ in shape: {tuple(a.shape)} vs {tuple(s.shape)}"
        )
    pred_a, pred_s = a.argmax(-1), s.argmax(-1)
    shares = {"ANN": majority_share(pred_a), "SNN": majority_share(pred_s)}
    return {
        "prediction_agreement": float((pred_a == pred_s).double().mean()),
        "choice_loglik_mad": float((a - s).abs().mean()),
        "ann_majority_share": shares["ANN"],
        "snn_majority_share": shares["SNN"],
        "flag": degenerate_flag(shares),
    }
