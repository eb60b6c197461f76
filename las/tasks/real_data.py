"""Datasets of the lm-eval tasks on real data shipped in registry packages (:mod:`las.corpora`).

Each builder returns a ``DatasetDict`` with a ``test`` split (the scored items) and, for tasks with
a natural few-shot form, a disjoint ``train`` split (the exemplar pool). Splits are seeded and fixed
(``seed`` from the task's metadata, 0 by default); lm-eval passes the task's metadata as keyword
arguments, the unknown ones are ignored.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset, DatasetDict

from las import corpora, data

#: Choices of the topic task, in the order of :data:`las.corpora.BBC_TOPICS`.
TOPICS = list(corpora.BBC_TOPICS)
POLARITY = ["negative", "positive"]
_POLARITY_LABELS = {"neg": 0, "pos": 1}


def wiki_dataset(
    source: str = "enwiki", min_chars: int = 300, max_chars: int = 800, **_: Any
) -> DatasetDict:
    """Passages (``page``) of the *evaluation* articles of ``conf/data/<source>.yaml``'s split:
    no article a passage comes from is calibration text."""
    cfg = data.data_config(source)
    held_out = set(data.split_documents(cfg)[1])
    articles = [a for a in corpora.wiki_articles() if a.text in held_out]
    pages = corpora.passages(articles, min_chars, max_chars)
    return DatasetDict({"test": Dataset.from_list([{"page": page} for page in pages])})


def polarity_dataset(fewshot_pool: int = 20, seed: int = 0, **_: Any) -> DatasetDict:
    """The 200 Pang & Lee sentences: ``text``, ``label`` (0 negative, 1 positive); a seeded
    ``fewshot_pool`` of them form ``train``, the rest ``test`` (both in seeded order)."""
    rows = [
        {"text": item.text, "label": _POLARITY_LABELS[item.label]}
        for item in corpora.polarity_sentences()
    ]
    return _split(rows, fewshot_pool, seed)


def topic_dataset(
    fewshot_pool: int = 50, seed: int = 0, lead_chars: int = 300, **_: Any
) -> DatasetDict:
    """BBC News articles: ``text`` (title and lead: the first ``lead_chars`` characters, cut on
    a word boundary), ``label`` (index into :data:`TOPICS`); ``fewshot_pool`` in ``train``.
    Articles whose lead repeats an earlier one (near-duplicate stories) are left out, so no
    prompt is on both sides."""
    rows: dict[str, dict] = {}
    for item in corpora.bbc_articles():
        lead = _lead(item.text, lead_chars)
        rows.setdefault(lead, {"text": lead, "label": TOPICS.index(item.label)})
    return _split(list(rows.values()), fewshot_pool, seed)


def code_dataset(**_: Any) -> DatasetDict:
    """The 164 HumanEval problems: ``prompt`` and ``canonical_solution``."""
    return DatasetDict({"test": Dataset.from_list(list(corpora.humaneval_problems()))})


def code_results(doc: dict[str, str], results: list[tuple[float, bool]]) -> dict[str, tuple]:
    """Log-likelihood of the canonical solution weighted by its UTF-8 bytes (model-independent
    units, so models with different tokenizers compare) for lm-eval's perplexity aggregations."""
    ((loglikelihood, _),) = results
    size = len(doc["canonical_solution"].encode("utf-8"))
    return {"byte_perplexity": (loglikelihood, size), "bits_per_byte": (loglikelihood, size)}


def _lead(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars].rsplit(" ", 1)[0] + " ..."


def _split(rows: list[dict], pool: int, seed: int) -> DatasetDict:
    """Seeded order (so a ``limit`` takes a random sample of every class, not the first class
    of the file), the first ``pool`` rows as ``train``."""
    train, test = corpora.seeded_split(len(rows), pool, seed)
    return DatasetDict(
        {
            "train": Dataset.from_list([rows[i] for i in train]),
            "test": Dataset.from_list([rows[i] for i in test]),
        }
    )
