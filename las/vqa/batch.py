"""Image-question batches for vision-language models, assembled without a processor.

A :class:`VQABatch` holds the prompt (image + question, the model's inputs) and the reference
answer tokens. :func:`vqa_batch` builds one from images, questions and answers, the way the
model's processor lays them out, per ``config.model_type`` (:data:`LAYOUTS`):

* ``llava``: ``USER: <image>\\n{question} ASSISTANT:``, where ``<image>`` is one image token per
  vision-tower patch (the CLS token is dropped by the ``default`` feature strategy) and
  ``pixel_values`` is ``[B, 3, image_size, image_size]``;
* ``qwen2_vl``: ``user: <image>{question}\\nassistant:``, where ``<image>`` is vision start, one
  image token per merged ``2x2`` patch group, vision end; ``pixel_values`` is the processor's
  flat patch layout ``[B * h * w, 3 * temporal_patch_size * patch * patch]`` (each image repeated
  over the temporal patch), with ``image_grid_thw`` ``[B, 3]`` and ``mm_token_type_ids`` (1 at image
  tokens) for M-RoPE.

Images come in already normalised (no resizing, no mean/std): the caller's pixels are the
model's. The templates are plain-text versions of the models' chat formats (a byte-level tokenizer
has no chat special tokens). Prompts are left padded, answers right padded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from las.vqa.synthetic import synthetic_items

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

IMAGE = "<image>"
TOKEN_TYPE_KEYS = ("mm_token_type_ids",)  # per-token inputs that are 0 (text) on answer tokens


@dataclass(frozen=True)
class VQABatch:
    """Prompts (model inputs, ``[B, L]`` token tensors, left padded) and reference answers.

    ``answer_ids`` ``[B, A]`` is right padded; ``answer_mask`` ``[B, A]`` is True at answer tokens.
    """

    prompt: dict[str, Tensor]
    answer_ids: Tensor
    answer_mask: Tensor

    def scoring_inputs(self) -> dict[str, Tensor]:
        """The prompt followed by the reference answer (teacher forcing), ``[B, L + A]``."""
        inputs = dict(self.prompt)
        inputs["input_ids"] = torch.cat([self.prompt["input_ids"], self.answer_ids], 1)
        answer_mask = self.answer_mask.to(self.prompt["attention_mask"].dtype)
        inputs["attention_mask"] = torch.cat([self.prompt["attention_mask"], answer_mask], 1)
        for key in TOKEN_TYPE_KEYS:
            if key in inputs:
                inputs[key] = torch.cat([inputs[key], torch.zeros_like(self.answer_ids)], 1)
        return inputs


@dataclass(frozen=True)
class Layout:
    """How one model family lays out an image-question prompt.

    ``template`` holds ``<image>`` and ``{question}``; ``image_size(config)`` is the default image
    side; ``encode(config, images)`` returns the placeholder tokens of one image and the vision
    inputs of the batch; ``token_types`` adds ``mm_token_type_ids``.
    """

    template: str
    image_size: Callable[[PretrainedConfig], int]
    encode: Callable[[PretrainedConfig, Tensor], tuple[list[int], dict[str, Tensor]]]
    token_types: bool = False


def _llava_size(config: PretrainedConfig) -> int:
    return config.vision_config.image_size


def _qwen2_vl_size(config: PretrainedConfig) -> int:
    """The smallest image side: two merged patch groups."""
    return 2 * config.vision_config.patch_size * config.vision_config.spatial_merge_size


def _llava_encode(config: PretrainedConfig, images: Tensor) -> tuple[list[int], dict]:
    vision = config.vision_config
    patches = (images.shape[-1] // vision.patch_size) ** 2
    tokens = patches + int(config.vision_feature_select_strategy == "full")  # + CLS
    return [config.image_token_id] * tokens, {"pixel_values": images}


def qwen2_vl_patches(images: Tensor, patch: int, merge: int, temporal: int) -> Tensor:
    """``[B, C, H, W]`` -> ``[B * gh * gw, C * temporal * patch**2]``, ordered by merge groups.

    The layout of Qwen2-VL's image processor: rows grouped ``merge x merge`` so that the patch
    merger's ``view`` joins neighbours; each image repeated over the temporal patch.
    """
    b, c, h, w = images.shape
    gh, gw = h // patch, w // patch
    x = images.reshape(b, c, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.permute(0, 2, 5, 3, 6, 1, 4, 7).unsqueeze(6)
    x = x.expand(-1, -1, -1, -1, -1, -1, temporal, -1, -1)
    return x.reshape(b * gh * gw, c * temporal * patch * patch)


def _qwen2_vl_encode(config: PretrainedConfig, images: Tensor) -> tuple[list[int], dict]:
    vision = config.vision_config
    patch, merge = vision.patch_size, vision.spatial_merge_size
    gh, gw = images.shape[-2] // patch, images.shape[-1] // patch
    pixels = qwen2_vl_patches(images, patch, merge, vision.temporal_patch_size)
    grid = torch.tensor([[1, gh, gw]]).expand(images.shape[0], 3).contiguous()
    tokens = [config.image_token_id] * (gh * gw // merge**2)
    placeholder = [config.vision_start_token_id, *tokens, config.vision_end_token_id]
    return placeholder, {"pixel_values": pixels, "image_grid_thw": grid}


LAYOUTS = {
    "llava": Layout(
        "USER: <image>\n{question} ASSISTANT:",
        _llava_size,
        _llava_encode,
    ),
    "qwen2_vl": Layout(
        "user: <image>{question}\nassistant:",
        _qwen2_vl_size,
        _qwen2_vl_encode,
        token_types=True,
    ),
}


def layout_for(config: PretrainedConfig) -> Layout:
    """The prompt layout of ``config.model_type``; ``ValueError`` listing the known ones."""
    if config.model_type not in LAYOUTS:
        raise ValueError(
            f"no image-question layout for {config.model_type!r}; known: {', '.join(LAYOUTS)}"
        )
    return LAYOUTS[config.model_type]


def _pad(rows: list[list[int]], value: int, left: bool) -> tuple[Tensor, Tensor]:
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), value, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, row in enumerate(rows):
        cols = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, cols], mask[i, cols] = torch.tensor(row, dtype=torch.long), True
    return ids, mask


def vqa_batch(
    config: PretrainedConfig,
    tokenizer: PreTrainedTokenizerBase,
    images: Tensor,
    questions: list[str],
    answers: list[str],
) -> VQABatch:
    """A batch of ``images`` ``[B, 3, H, W]`` (normalised), questions and reference answers."""
    layout = layout_for(config)
    placeholder, vision = layout.encode(config, images)
    before, after = layout.template.split(IMAGE)

    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    prompts = [encode(before) + placeholder + encode(after.format(question=q)) for q in questions]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids, mask = _pad(prompts, pad, left=True)
    prompt = {"input_ids": ids, "attention_mask": mask.long(), **vision}
    if layout.token_types:
        prompt["mm_token_type_ids"] = (ids == config.image_token_id).long()
    answer_ids, answer_mask = _pad([encode(" " + a) for a in answers], pad, left=False)
    return VQABatch(prompt, answer_ids, answer_mask)


def synthetic_batch(
    config: PretrainedConfig,
    tokenizer: PreTrainedTokenizerBase,
    batch: int = 2,
    seed: int = 0,
    size: int | None = None,
) -> VQABatch:
    """:mod:`las.vqa.synthetic` items at the layout's default image size (or ``size``)."""
    items = synthetic_items(batch, size or layout_for(config).image_size(config), seed)
    return vqa_batch(config, tokenizer, items.images, items.questions, items.answers)
