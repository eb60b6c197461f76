"""How close a converted model is to its original on the same inputs (one run, same batches).

Causal LMs: perplexity of both and its ratio, per-token top-1 agreement, relative logit error.
Encoders: relative error of the last hidden state and cosine similarity of mean-pooled sentence
embeddings. Both models see identical batches; sums are accumulated in float64.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm
from transformers import PreTrainedModel

Batch = Mapping[str, Tensor]


def _forward(model: PreTrainedModel, batch: Batch):
    with torch.inference_mode():
        return model(**batch)


def compare_causal(
    ann: PreTrainedModel, snn: PreTrainedModel, batches: Iterable[Batch]
) -> dict[str, float]:
    """Perplexities, ratio, top-1 agreement and relative logit error over ``batches``."""
    nll = {"ann": 0.0, "snn": 0.0}
    tokens = agree = 0
    diff_sq = ref_sq = max_abs = 0.0
    for batch in tqdm(list(batches), desc="compare", unit="batch"):
        a, s = _forward(ann, batch).logits.double(), _forward(snn, batch).logits.double()
        labels = batch["input_ids"][:, 1:]
        keep = batch.get("attention_mask", torch.ones_like(batch["input_ids"]))[:, 1:].bool()
        for key, logits in (("ann", a), ("snn", s)):
            losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), labels, reduction="none")
            nll[key] += float(losses[keep].sum())
        tokens += int(keep.sum())
        agree += int((a[:, :-1].argmax(-1) == s[:, :-1].argmax(-1))[keep].sum())
        diff_sq += float((a - s).pow(2).sum())
        ref_sq += float(a.pow(2).sum())
        max_abs = max(max_abs, float((a - s).abs().max()))
    ppl = {k: math.exp(v / tokens) for k, v in nll.items()}
    return {
        "tokens": tokens,
        "ann_perplexity": ppl["ann"],
        "snn_perplexity": ppl["snn"],
        "perplexity_ratio": ppl["snn"] / ppl["ann"],
        "top1_agreement": agree / tokens,
        "logits_rel_error": math.sqrt(diff_sq / ref_sq),
        "logits_max_abs_error": max_abs,
    }


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Mask-weighted mean over the sequence: ``[B, L, H] -> [B, H]`` (sentence embeddings)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1)


def compare_encoder(
    ann: PreTrainedModel, snn: PreTrainedModel, batches: Iterable[Batch]
) -> dict[str, float]:
    """Relative hidden-state error and embedding cosine similarity over ``batches``."""
    cosines, diff_sq, ref_sq, tokens = [], 0.0, 0.0, 0
    for batch in tqdm(list(batches), desc="compare", unit="batch"):
        a = _forward(ann, batch).last_hidden_state.double()
        s = _forward(snn, batch).last_hidden_state.double()
        mask = batch["attention_mask"].bool()
        diff_sq += float((a - s)[mask].pow(2).sum())
        ref_sq += float(a[mask].pow(2).sum())
        tokens += int(mask.sum())
        cosines.append(F.cosine_similarity(mean_pool(a, mask), mean_pool(s, mask), dim=-1))
    cos = torch.cat(cosines)
    return {
        "tokens": tokens,
        "sentences": cos.numel(),
        "hidden_rel_error": math.sqrt(diff_sq / ref_sq),
        "embedding_cosine_min": float(cos.min()),
        "embedding_cosine_mean": float(cos.mean()),
    }
