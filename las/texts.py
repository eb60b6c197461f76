"""Offline text data shipped inside lm-eval: MMLU exemplars with worked explanations.

lm-eval ships ``tasks/mmlu/flan_cot_fewshot/_cot_prompts.json``: per subject, five questions with
options (A)-(D), a worked explanation and "The answer is (X)". It is the embedded default's
held-out prose and its multiple-choice items (shared ASSETS.md). Text is kept as it is (LaTeX
escapes mangled by JSON included).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

MMLU_FILE = "tasks/mmlu/flan_cot_fewshot/_cot_prompts.json"
_ITEM = re.compile(
    r"^(?P<question>.*?)\n\(A\) (?P<a>.*?)\s\(B\) (?P<b>.*?)\s\(C\) (?P<c>.*?)\s\(D\) (?P<d>.*?)\n"
    r"A: (?P<explanation>.*)$",
    re.DOTALL,
)
_ANSWER = re.compile(r"The answer is \(([ABCD])\)")


@dataclass(frozen=True)
class MCItem:
    """One multiple-choice item; ``answer`` is the gold letter or None if the text has none."""

    subject: str
    question: str
    options: tuple[str, str, str, str]
    answer: str | None
    explanation: str

    @property
    def text(self) -> str:
        """The item as prose: question, options and the worked explanation."""
        a, b, c, d = self.options
        return f"Q: {self.question}\n(A) {a} (B) {b} (C) {c} (D) {d}\nA: {self.explanation}"


@cache
def mmlu_items() -> tuple[MCItem, ...]:
    """All parsed items of the shipped file, in file order (57 subjects x 5)."""
    raw = json.loads(resources.files("lm_eval").joinpath(MMLU_FILE).read_text())
    items = []
    for subject, prompt in raw.items():
        for block in prompt.split("\n\nQ: ")[1:]:
            match = _ITEM.match(block.strip())
            if match is None:
                continue
            answer = _ANSWER.search(match["explanation"])
            options = (match["a"], match["b"], match["c"], match["d"])
            items.append(
                MCItem(
                    subject,
                    match["question"],
                    options,
                    answer[1] if answer else None,
                    match["explanation"].strip(),
                )
            )
    return tuple(items)


def prose_corpus() -> list[str]:
    """Prose documents: one per distinct MMLU item text (question, options, explanation).

    Items repeated across subjects appear once, so a split can never put one text on both sides.
    """
    return list(dict.fromkeys(item.text for item in mmlu_items()))


def split_calibration_evaluation(
    docs: list[str], calib_fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """Split documents (never sharing one) by a seeded permutation: (calibration, evaluation)."""
    if not 0.0 < calib_fraction < 1.0:
        raise ValueError(f"calib_fraction must be in (0, 1), got {calib_fraction}")
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    cut = round(len(docs) * calib_fraction)
    return [docs[i] for i in order[:cut]], [docs[i] for i in order[cut:]]


def token_blocks(
    tokenizer: PreTrainedTokenizerBase, docs: list[str], seq_len: int, n_blocks: int
) -> torch.Tensor:
    """``[n_blocks, seq_len]`` token ids: documents joined by EOS, cut into consecutive blocks.

    Raises ``ValueError`` stating how many tokens there are when they do not fill the blocks.
    """
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for doc in docs:
        ids.extend(tokenizer(doc, add_special_tokens=False)["input_ids"])
        if eos is not None:
            ids.append(eos)
        if len(ids) >= n_blocks * seq_len:
            break
    need = n_blocks * seq_len
    if len(ids) < need:
        raise ValueError(
            f"{n_blocks} blocks of {seq_len} tokens need {need} tokens; the documents give "
            f"{len(ids)}: lower the number of sequences or their length"
        )
    return torch.tensor(ids[:need], dtype=torch.long).view(n_blocks, seq_len)
