"""Encoders on real tasks, ANN vs SNN on the same items: frozen-embedding probes, word similarity.

Sentence embeddings are sentence-transformers' pipeline of all-MiniLM-L6-v2 (the asset's
``modules.json``: Transformer, Pooling with ``pooling_mode_mean_tokens``, Normalize): the mean of
the last hidden state over the attention mask, L2-normalised (:func:`sentence_embeddings`).

* **Probes** (:func:`probe_rows`): a logistic regression on standardised embeddings is trained
  on each model's own embeddings of the same training items and scored on the same test items
  (a fixed seeded split, :func:`probe_split`). Rows: ``acc`` (SNN probe on SNN embeddings vs ANN
  probe on ANN embeddings) and ``acc_transfer`` (the ANN probe on SNN embeddings vs on ANN
  embeddings: does the SNN keep the ANN's embedding geometry?), each with the paired difference
  of per-item correctness and the choice measures of :mod:`las.evaluation.choices` on the
  probes' class log-probabilities (agreement, majority shares, the > 90 % one-class flag).
* **Word similarity** (:func:`similarity_row`): each word embedded as a one-word sentence,
  cosine similarity per pair, Spearman's correlation with the human score for ANN and SNN, the
  bootstrap interval over pairs of their difference; ``prediction_agreement`` holds the
  Spearman correlation of the ANN and SNN similarities (the rank agreement of their predictions).

Rows have the fields of :func:`las.evaluation.paired.metric_row` plus the choice measures, as the
lm-eval rows of :mod:`las.evaluation.harness`, so Table 1 lists both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from datasets import Dataset
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from las import corpora
from las.config import NonNegativeInt, PositiveInt, typed
from las.evaluation.choices import NO_CHOICES, score_measures
from las.evaluation.paired import metric_row, paired_difference, spearman
from las.fidelity import mean_pool
from las.tasks import real_data

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ProbeTask = Literal["sentiment", "topic"]
SimilaritySet = Literal["wordsim353", "simlex999"]
#: Labelled texts (``text``, ``label``) of each probe task: all 200 Pang & Lee sentences (0
#: negative, 1 positive), and the BBC News title-and-lead texts of ``las_topic``'s ``test``
#: split (labels index :data:`las.tasks.real_data.TOPICS`).
PROBE_DATA: dict[str, Callable[[], Dataset]] = {
    "sentiment": lambda: real_data.polarity_dataset(fewshot_pool=0)["test"],
    "topic": lambda: real_data.topic_dataset()["test"],
}


@typed
class ProbeSplit:
    """Items of one probe task: ``train`` for fitting, the next ``test`` for scoring."""

    train: PositiveInt
    test: PositiveInt


@typed
class ProbeConfig:
    """The linear probes: items per task, the split seed, the solver's iteration budget."""

    tasks: dict[ProbeTask, ProbeSplit]
    seed: NonNegativeInt
    max_iter: PositiveInt


@typed
class SimilarityConfig:
    """The word-similarity sets and the seed of the bootstrap over pairs."""

    sets: list[SimilaritySet]
    seed: NonNegativeInt


def sentence_embeddings(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int,
    max_length: int,
) -> torch.Tensor:
    """``[len(texts), hidden]`` float64 unit vectors (mean pooling, then L2 normalisation), row
    i of ``texts[i]``. Batches are formed longest text first, as sentence-transformers'
    ``encode`` does: a batch pads to its longest text, and sorted batches pad little."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            [texts[i] for i in order[start : start + batch_size]],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state.double()
        out.append(F.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1))
    return torch.cat(out)[torch.tensor(order).argsort()]


def probe_split(rows: Dataset, split: ProbeSplit, seed: int, task: str) -> tuple[Dataset, Dataset]:
    """(train, test) rows: ``rows`` shuffled by ``seed``, the first ``split.train``, the next
    ``split.test``. ``ValueError`` naming the config keys when there are too few rows."""
    if split.train + split.test > len(rows):
        raise ValueError(
            f"probe.tasks.{task}: train {split.train} + test {split.test} items, but the task "
            f"has {len(rows)}: lower them"
        )
    train, rest = corpora.seeded_split(len(rows), split.train, seed)
    return rows.select(train), rows.select(rest[: split.test])


def fit_probe(x: torch.Tensor, y: Sequence[int], seed: int, max_iter: int) -> Pipeline:
    """A logistic regression on standardised features, fitted to ``x`` ``[items, hidden]``."""
    probe = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed)
    )
    return probe.fit(x.numpy(), list(y))


def _log_proba(probe: Pipeline, x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(probe.predict_log_proba(x.numpy()))


def _correct(probe: Pipeline, log_proba: torch.Tensor, y: Sequence[int]) -> list[float]:
    predicted = probe.classes_[log_proba.argmax(-1).numpy()]
    return [float(p == t) for p, t in zip(predicted, y, strict=True)]


def _mean_stderr(values: Sequence[float]) -> tuple[float, float]:
    """Mean and its standard error (sample standard deviation / sqrt(n), as lm-eval's)."""
    x = torch.tensor(values, dtype=torch.float64)
    return float(x.mean()), float(x.std()) / math.sqrt(len(x))


def probe_rows(
    task: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    labels: tuple[Sequence[int], Sequence[int]],
    cfg: ProbeConfig,
) -> list[dict[str, Any]]:
    """The ``acc`` and ``acc_transfer`` rows of one probe task (module docstring).

    ``train``/``test``: ``(ANN, SNN)`` embeddings ``[items, hidden]`` of the same items;
    ``labels``: (train, test) labels.
    """
    y_train, y_test = labels
    ann_probe = fit_probe(train[0], y_train, cfg.seed, cfg.max_iter)
    snn_probe = fit_probe(train[1], y_train, cfg.seed, cfg.max_iter)
    reference = _log_proba(ann_probe, test[0])
    ann_correct = _correct(ann_probe, reference, y_test)
    rows = []
    for metric, probe in (("acc", snn_probe), ("acc_transfer", ann_probe)):
        scores = _log_proba(probe, test[1])
        correct = _correct(probe, scores, y_test)
        diff = paired_difference("acc", ann_correct, correct)
        row = metric_row(
            f"probe_{task}",
            metric,
            len(y_test),
            _mean_stderr(correct),
            _mean_stderr(ann_correct),
            diff,
        )
        rows.append(row | score_measures(reference, scores))
    return rows


def similarity_row(
    name: str, ann: torch.Tensor, snn: torch.Tensor, human: Sequence[float], seed: int
) -> dict[str, Any]:
    """The ``spearman`` row of one word-similarity set (module docstring).

    ``ann``/``snn``: cosine similarities per pair ``[pairs]``; ``human``: the human scores.
    """
    reference = torch.tensor(human, dtype=torch.float64)
    ann_pairs, snn_pairs = (torch.stack([v, reference], -1).tolist() for v in (ann, snn))
    diff = paired_difference("spearman", ann_pairs, snn_pairs, seed)
    nan = float("nan")
    row = metric_row(
        f"similarity_{name}",
        "spearman",
        len(reference),
        (float(spearman(snn, reference)), nan),
        (float(spearman(ann, reference)), nan),
        diff,
    )
    return row | NO_CHOICES | {"prediction_agreement": float(spearman(ann, snn))}


def pair_similarities(
    embed: Callable[[Sequence[str]], torch.Tensor], pairs: Sequence[corpora.WordPair]
) -> torch.Tensor:
    """Cosine similarity ``[pairs]`` of each pair's two words, each embedded once by ``embed``
    (unit vectors, so the dot product)."""
    words = sorted({w for p in pairs for w in (p.first, p.second)})
    vectors = dict(zip(words, embed(words), strict=True))
    return torch.stack([vectors[p.first] @ vectors[p.second] for p in pairs])
