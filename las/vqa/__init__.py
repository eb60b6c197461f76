"""Image-question answering with vision-language models: inputs and fidelity (LLaVA, Qwen2-VL).

:mod:`las.vqa.synthetic` draws image-question items in code, :mod:`las.vqa.batch` lays them out as
model inputs without a processor, :mod:`las.vqa.compare` measures how closely a converted VLM
follows its original (logits, next-token agreement on answers, greedy answers).
"""

from las.vqa.batch import LAYOUTS, VQABatch, synthetic_batch, vqa_batch
from las.vqa.compare import compare_vqa, greedy_answer
from las.vqa.synthetic import SyntheticItems, synthetic_items

__all__ = [
    "LAYOUTS",
    "SyntheticItems",
    "VQABatch",
    "compare_vqa",
    "greedy_answer",
    "synthetic_batch",
    "synthetic_items",
    "vqa_batch",
]
