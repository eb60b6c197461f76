"""Datasets of the embedded lm-eval tasks, built offline from text shipped inside lm-eval.

Both draw from the *evaluation* documents of ``conf/data/embedded_prose.yaml``'s split, so no
item a task scores was seen by calibration (shared ASSETS.md: never the same items).
"""

from __future__ import annotations

import re
from typing import Any

from datasets import Dataset, DatasetDict

from las import data, texts

LETTERS = "ABCD"


def _evaluation_texts(source: str) -> set[str]:
    return set(data.split_documents(data.data_config(source))[1])


def mmlu_dataset(source: str = "embedded_prose", **_: Any) -> DatasetDict:
    """Held-out MMLU items with a gold letter: ``question``, ``choices``, ``answer``, ``subject``.

    Extra keyword arguments (lm-eval passes the task's metadata) are ignored.
    """
    held_out = _evaluation_texts(source)
    rows = [
        {
            "question": item.question,
            "choices": list(item.options),
            "answer": LETTERS.index(item.answer),
            "subject": item.subject,
        }
        for item in texts.mmlu_items()
        if item.answer is not None and item.text in held_out
    ]
    return DatasetDict({"test": Dataset.from_list(rows)})


def prose_dataset(source: str = "embedded_prose", **_: Any) -> DatasetDict:
    """Held-out prose documents as ``page`` (for rolling log-likelihood: perplexity)."""
    docs = data.split_documents(data.data_config(source))[1]
    return DatasetDict({"test": Dataset.from_list([{"page": doc} for doc in docs])})


def prose_results(doc: dict[str, str], results: list[float]) -> dict[str, tuple[float, int]]:
    """Per-document (log-likelihood, words or bytes) pairs for lm-eval's perplexity aggregations."""
    (loglikelihood,) = results
    words = len(re.split(r"\s+", doc["page"]))
    size = len(doc["page"].encode("utf-8"))
    return {
        "word_perplexity": (loglikelihood, words),
        "byte_perplexity": (loglikelihood, size),
        "bits_per_byte": (loglikelihood, size),
    }
