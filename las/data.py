"""Calibration and evaluation inputs from the configured text source (``data`` config group).

Causal LMs get fixed-length token blocks of concatenated documents; encoders get one padded
sequence per document. Calibration and evaluation use disjoint documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from transformers import PreTrainedTokenizerBase

from las import texts

Batch = dict[str, torch.Tensor]
DATA_CONF = Path(__file__).resolve().parent.parent / "conf" / "data"


def data_config(name: str, calib_sequences: int | None = None) -> dict[str, Any]:
    """The ``conf/data/<name>.yaml`` config as a dict (``calib_sequences`` overridden if given).

    For callers outside Hydra (lm-eval model arguments, task loaders); ``ValueError`` naming the
    known configs for an unknown ``name``.
    """
    path = DATA_CONF / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in DATA_CONF.glob("*.yaml"))
        raise ValueError(f"unknown data config {name!r}; known: {', '.join(known)}")
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if calib_sequences is not None:
        cfg["calib_sequences"] = int(calib_sequences)
    return cfg  # type: ignore[return-value]


def split_documents(cfg: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(calibration, evaluation) documents of ``cfg['source']``."""
    if cfg["source"] != "embedded_prose":
        raise ValueError(f"unknown data source {cfg['source']!r}; known: embedded_prose")
    return texts.split_calibration_evaluation(
        texts.prose_corpus(), cfg["calib_fraction"], cfg["seed"]
    )


def _batches(tokenizer, docs, n: int, cfg: Mapping[str, Any], task: str) -> list[Batch]:
    size = cfg["batch_size"]
    if task == "causal_lm":
        blocks = texts.token_blocks(tokenizer, docs, cfg["seq_len"], n)
        return [{"input_ids": b} for b in blocks.split(size)]
    if len(docs) < n:
        raise ValueError(f"need {n} documents, the source has {len(docs)}: lower the count")
    enc = tokenizer(
        docs[:n], padding=True, truncation=True, max_length=cfg["seq_len"], return_tensors="pt"
    )
    return [
        {"input_ids": ids, "attention_mask": mask}
        for ids, mask in zip(
            enc["input_ids"].split(size), enc["attention_mask"].split(size), strict=True
        )
    ]


def calibration_batches(
    tokenizer: PreTrainedTokenizerBase, cfg: Mapping[str, Any], task: str = "causal_lm"
) -> list[Batch]:
    """``cfg['calib_sequences']`` sequences of the calibration documents, in batches."""
    return _batches(tokenizer, split_documents(cfg)[0], cfg["calib_sequences"], cfg, task)


def evaluation_batches(
    tokenizer: PreTrainedTokenizerBase, cfg: Mapping[str, Any], task: str = "causal_lm"
) -> list[Batch]:
    """``cfg['eval_sequences']`` sequences of the evaluation documents, in batches."""
    return _batches(tokenizer, split_documents(cfg)[1], cfg["eval_sequences"], cfg, task)
