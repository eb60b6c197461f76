"""The real data shipped in registry packages: counts, labels and markup as the files have them."""

from __future__ import annotations

import collections

import pytest

from las import corpora


def test_wikipedia_articles_are_prose_without_markup():
    articles = corpora.wiki_articles()
    assert len(articles) == 106  # 206 pages: 100 redirects and one non-article page dropped
    assert articles[0].title == "Anarchism"
    text = "\n".join(a.text for a in articles)
    for markup in ("[[", "]]", "{{", "}}", "<ref", "thumb|", "'''"):
        assert markup not in text, markup
    assert all(len(p.split()) >= 20 for a in articles for p in a.paragraphs)


def test_passages_keep_to_their_article_and_size():
    articles = list(corpora.wiki_articles()[:5])
    pages = corpora.passages(articles, 300, 800)
    assert len(pages) > 50
    assert all(len(p) >= 300 for p in pages)
    assert all(len(p) <= 800 or "\n\n" not in p for p in pages)
    texts = [a.text for a in articles]
    for page in pages:
        assert sum(page.split("\n\n")[0] in t for t in texts) >= 1


def test_polarity_sentences_are_balanced_and_decoded():
    items = corpora.polarity_sentences()
    assert collections.Counter(i.label for i in items) == {"neg": 100, "pos": 100}
    assert any("\u2014" in i.text for i in items)  # the cp1252 em dash, decoded


def test_word_pairs_and_bbc_and_humaneval_counts():
    assert len(corpora.word_pairs("wordsim353")) == 353
    assert len(corpora.word_pairs("simlex999")) == 999
    assert corpora.word_pairs("simlex999")[0] == corpora.WordPair("old", "new", 1.58)
    with pytest.raises(ValueError, match="unknown similarity set 'men'"):
        corpora.word_pairs("men")
    bbc = corpora.bbc_articles()
    assert len({i.text for i in bbc}) == len(bbc) == 2125  # 2,225 files, 100 exact duplicates
    assert collections.Counter(i.label for i in bbc) == {
        "business": 503,
        "entertainment": 369,
        "politics": 403,
        "sports": 503,
        "tech": 347,
    }
    assert any("Mutu, a \u00a315.8m" in i.text for i in bbc)  # sports/199.txt, the Latin-1 file
    problems = corpora.humaneval_problems()
    assert len(problems) == 164 and problems[0]["task_id"] == "HumanEval/0"


def test_seeded_split_is_a_partition():
    first, rest = corpora.seeded_split(10, 3, seed=1)
    assert sorted(first + rest) == list(range(10)) and len(first) == 3
    assert corpora.seeded_split(10, 3, seed=1) == (first, rest)
    with pytest.raises(ValueError, match="cannot take 11 of 10"):
        corpora.seeded_split(10, 11, seed=0)
