"""Calibration and evaluation inputs from the configured text source (``data`` config group).

Causal LMs get fixed-length token blocks of concatenated documents; encoders get one padded
sequence per document. Calibration and evaluation use disjoint documents.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
import yaml

from las import texts
from las.config import Fraction, NonNegativeInt, PositiveInt, build, typed

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Batch = dict[str, torch.Tensor]
DATA_CONF = Path(__file__).resolve().parent.parent / "conf" / "data"


@typed
class DataConfig:
    """The ``data`` config group: which text, how it is split and batched.

    Attributes:
        source: the text source: ``embedded_prose`` (MMLU worked explanations shipped in
            lm-eval) or ``enwiki`` (the 106 Wikipedia articles of gensim's test data,
            :func:`las.corpora.wiki_articles`; documents are whole articles).
        calib_fraction: share of documents on the calibration side, in (0, 1); the rest is
            evaluation text (no document on both sides).
        seed: seed of the document split.
        seq_len: tokens per sequence (causal LMs: block length; encoders: truncation length).
        calib_sequences, eval_sequences: sequences taken from each side.
        batch_size: sequences per batch.
    """

    source: Literal["embedded_prose", "enwiki"]
    calib_fraction: Fraction
    seed: NonNegativeInt
    seq_len: PositiveInt
    calib_sequences: PositiveInt
    eval_sequences: PositiveInt
    batch_size: PositiveInt

    def split_key(self) -> dict[str, object]:
        """What decides which documents are calibration text (must agree across stages)."""
        return {"source": self.source, "calib_fraction": self.calib_fraction, "seed": self.seed}


def data_config(name: str, calib_sequences: int | None = None) -> DataConfig:
    """The ``conf/data/<name>.yaml`` config (``calib_sequences`` replaced if given).

    For callers outside Hydra (lm-eval model arguments, task loaders); ``ValueError`` naming the
    known configs for an unknown ``name``.
    """
    path = DATA_CONF / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in DATA_CONF.glob("*.yaml"))
        raise ValueError(f"unknown data config {name!r}; known: {', '.join(known)}")
    cfg = build(DataConfig, yaml.safe_load(path.read_text()), f"data config {path}")
    if calib_sequences is not None:
        cfg = dataclasses.replace(cfg, calib_sequences=calib_sequences)
    return cfg


def split_documents(cfg: DataConfig) -> tuple[list[str], list[str]]:
    """(calibration, evaluation) documents of ``cfg.source``."""
    return texts.split_calibration_evaluation(_corpus(cfg.source), cfg.calib_fraction, cfg.seed)


def _corpus(source: str) -> list[str]:
    if source == "enwiki":
        from las import corpora

        return [article.text for article in corpora.wiki_articles()]
    return texts.prose_corpus()


def _batches(tokenizer, docs, n: int, cfg: DataConfig, task: str) -> list[Batch]:
    size = cfg.batch_size
    if task == "causal_lm":
        blocks = texts.token_blocks(tokenizer, docs, cfg.seq_len, n)
        # an explicit all-ones mask: models build their own otherwise (OPT: float ones and
        # float positions from them, which the energy ledger would have to price)
        return [{"input_ids": b, "attention_mask": torch.ones_like(b)} for b in blocks.split(size)]
    if len(docs) < n:
        raise ValueError(f"need {n} documents, the source has {len(docs)}: lower the count")
    enc = tokenizer(
        docs[:n], padding=True, truncation=True, max_length=cfg.seq_len, return_tensors="pt"
    )
    return [
        {"input_ids": ids, "attention_mask": mask}
        for ids, mask in zip(
            enc["input_ids"].split(size), enc["attention_mask"].split(size), strict=True
        )
    ]


def calibration_batches(
    tokenizer: PreTrainedTokenizerBase, cfg: DataConfig, task: str = "causal_lm"
) -> list[Batch]:
    """``cfg.calib_sequences`` sequences of the calibration documents, in batches."""
    return _batches(tokenizer, split_documents(cfg)[0], cfg.calib_sequences, cfg, task)


def evaluation_batches(
    tokenizer: PreTrainedTokenizerBase, cfg: DataConfig, task: str = "causal_lm"
) -> list[Batch]:
    """``cfg.eval_sequences`` sequences of the evaluation documents, in batches."""
    return _batches(tokenizer, split_documents(cfg)[1], cfg.eval_sequences, cfg, task)
