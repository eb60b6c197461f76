"""Task builders on the shipped data: counts, labels, disjoint calibration/evaluation/few-shot."""

from __future__ import annotations

import collections

import pytest

from las import corpora, data
from las.tasks import real_data


def test_wiki_passages_come_only_from_evaluation_articles():
    calibration, evaluation = data.split_documents(data.data_config("enwiki"))
    assert len(calibration) == 53 and len(evaluation) == 53
    assert not set(calibration) & set(evaluation)
    pages = real_data.wiki_dataset()["test"]["page"]
    assert len(pages) >= 100
    for page in pages[:200]:
        head = page.split("\n\n")[0]
        assert any(head in doc for doc in evaluation)
        assert not any(head in doc for doc in calibration)


@pytest.mark.parametrize(
    ("build", "n", "pool", "classes"),
    [(real_data.polarity_dataset, 200, 20, 2), (real_data.topic_dataset, 2107, 50, 5)],
    ids=["polarity", "topic"],
)
def test_classification_splits_are_disjoint_and_mixed(build, n, pool, classes):
    splits = build()
    train, test = splits["train"], splits["test"]
    assert len(train) == pool and len(test) == n - pool
    assert not set(train["text"]) & set(test["text"])
    assert set(test["label"]) == set(range(classes))
    # Seeded order: the first items a `limit` takes hold more than one class.
    assert len(set(test["label"][:20])) > 1
    assert build()["test"]["text"] == test["text"]  # fixed


def test_topic_leads_are_cut_and_labels_follow_the_folders():
    test = real_data.topic_dataset()["test"]
    assert max(len(t) for t in test["text"]) <= 300 + len(" ...")
    counts = collections.Counter(test["label"]) + collections.Counter(
        real_data.topic_dataset()["train"]["label"]
    )
    # 2,125 distinct articles; 18 whose lead repeats an earlier article's are left out.
    assert sum(counts.values()) == 2107 and min(counts.values()) > 300
    assert list(corpora.BBC_TOPICS) == real_data.TOPICS


def test_code_results_weigh_by_solution_bytes():
    problems = real_data.code_dataset()["test"]
    assert len(problems) == 164
    doc = problems[0]
    size = len(doc["canonical_solution"].encode("utf-8"))
    assert real_data.code_results(doc, [(-12.5, False)]) == {
        "byte_perplexity": (-12.5, size),
        "bits_per_byte": (-12.5, size),
    }
