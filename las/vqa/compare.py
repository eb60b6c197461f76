"""Image-question fidelity: a converted VLM next to its original on the same batches.

Per batch, both models score the prompt followed by the reference answer (teacher forcing) and
generate a greedy answer from the prompt alone. Reported:

* ``logits_rel_error``, ``logits_max_abs_error``: over every attended position of the scored
  sequence (image tokens, question and answer);
* ``answer_top1_agreement``: share of answer positions where both predict the same next token;
* ``generated_token_agreement``, ``generated_exact_match``: greedy answers (as many new tokens as
  the batch's longest reference answer) compared token by token and as whole answers;
* ``ann_answer_accuracy``, ``snn_answer_accuracy``: greedy answers starting with the reference.

``weights`` labels the result (``"tiny-random"`` for :mod:`las.arch.tiny` models): on random
weights only the agreement and error measures mean anything; accuracies need pretrained weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from las.vqa.batch import VQABatch

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def _logits(model: PreTrainedModel, inputs: dict[str, Tensor]) -> Tensor:
    with torch.inference_mode():
        return model(**inputs).logits.double()


def greedy_answer(model: PreTrainedModel, batch: VQABatch) -> Tensor:
    """``[B, A]`` greedy continuation of the prompt; rows that stop early are padded with -1."""
    new = batch.answer_ids.shape[1]
    out = model.generate(**batch.prompt, max_new_tokens=new, do_sample=False)
    answer = out[:, batch.prompt["input_ids"].shape[1] :]
    return F.pad(answer, (0, new - answer.shape[1]), value=-1)


def compare_vqa(
    ann: PreTrainedModel, snn: PreTrainedModel, batches: Iterable[VQABatch], *, weights: str
) -> dict[str, float | int | str]:
    """Fidelity of ``snn`` to ``ann`` on ``batches`` (see the module docstring for each measure)."""
    diff_sq = ref_sq = max_abs = 0.0
    items = answer_tokens = top1 = gen_agree = gen_tokens = exact = 0
    correct = {"ann": 0, "snn": 0}
    for batch in tqdm(list(batches), desc="compare_vqa", unit="batch"):
        inputs = batch.scoring_inputs()
        a, s = _logits(ann, inputs), _logits(snn, inputs)
        keep = inputs["attention_mask"].bool()
        diff_sq += float((a - s)[keep].pow(2).sum())
        ref_sq += float(a[keep].pow(2).sum())
        max_abs = max(max_abs, float((a - s)[keep].abs().max()))
        start = batch.prompt["input_ids"].shape[1] - 1  # logits at start + j predict answer j
        span = slice(start, start + batch.answer_ids.shape[1])
        same = a[:, span].argmax(-1) == s[:, span].argmax(-1)
        top1 += int(same[batch.answer_mask].sum())
        answer_tokens += int(batch.answer_mask.sum())
        generated = {"ann": greedy_answer(ann, batch), "snn": greedy_answer(snn, batch)}
        agree = generated["ann"] == generated["snn"]
        gen_agree, gen_tokens = gen_agree + int(agree.sum()), gen_tokens + agree.numel()
        exact += int(agree.all(1).sum())
        for key, answer in generated.items():
            hit = (answer == batch.answer_ids) | ~batch.answer_mask
            correct[key] += int(hit.all(1).sum())
        items += batch.answer_ids.shape[0]
    return {
        "weights": weights,
        "items": items,
        "answer_tokens": answer_tokens,
        "logits_rel_error": math.sqrt(diff_sq / ref_sq),
        "logits_max_abs_error": max_abs,
        "answer_top1_agreement": top1 / answer_tokens,
        "generated_token_agreement": gen_agree / gen_tokens,
        "generated_exact_match": exact / items,
        "ann_answer_accuracy": correct["ann"] / items,
        "snn_answer_accuracy": correct["snn"] / items,
    }
