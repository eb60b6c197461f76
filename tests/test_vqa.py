"""Image-question inputs and fidelity (las.vqa) on tiny random VLMs: code paths, not accuracy."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from las import convert_model
from las.arch.tiny import TINY_RANDOM, VLM_BUILDERS, byte_tokenizer, tiny_model, tiny_vqa_batch
from las.calibration import RuleConfig, calibrate_model
from las.vqa import SyntheticItems, compare_vqa, synthetic_items, vqa_batch
from las.vqa.batch import qwen2_vl_patches
from las.vqa.synthetic import BACKGROUND, COLOURS, QUESTIONS

VLMS = sorted(VLM_BUILDERS)


@functools.cache
def converted(family: str):
    model = tiny_model(family)
    batches = [tiny_vqa_batch(model, seed=s).scoring_inputs() for s in range(4)]
    calibration, _ = calibrate_model(model, batches, rule=RuleConfig(margin=1.0))
    return model, convert_model(model, calibration)


def test_synthetic_items_are_seeded_and_answer_their_question():
    items = synthetic_items(12, 16, seed=3)
    again = synthetic_items(12, 16, seed=3)
    assert isinstance(items, SyntheticItems) and torch.equal(items.images, again.images)
    assert items.images.shape == (12, 3, 16, 16)
    assert set(items.questions) <= set(QUESTIONS) and len(items.answers) == 12
    for image, question, answer in zip(items.images, items.questions, items.answers, strict=True):
        if question == "What colour is it?":
            shape = (image - BACKGROUND).abs().amax(0) > 0.5  # noise has std 0.05
            colour = torch.tensor(COLOURS[answer])
            assert torch.allclose(image[:, shape].mean(1), colour, atol=0.05)


def test_qwen2_vl_patches_match_the_image_processor():
    images = torch.randn(2, 3, 16, 24)
    processor = Qwen2VLImageProcessorPil()
    reference = np.concatenate([processor.patchify(x.numpy(), 4, 2, 2)[0] for x in images])
    assert np.array_equal(qwen2_vl_patches(images, 4, 2, 2).numpy(), reference)


@pytest.mark.parametrize("family", VLMS)
def test_batch_layout_fits_the_model(family):
    model = tiny_model(family)
    batch = tiny_vqa_batch(model, batch=3, seed=1)
    ids, mask = batch.prompt["input_ids"], batch.prompt["attention_mask"]
    assert ids.shape == mask.shape and bool((mask[:, -1] == 1).all())  # left padded
    assert bool(batch.answer_mask[:, 0].all())  # right padded answers
    scored = batch.scoring_inputs()
    width = ids.shape[1] + batch.answer_ids.shape[1]
    per_token = ("input_ids", "attention_mask", "mm_token_type_ids")
    assert all(v.shape[1] == width for k, v in scored.items() if k in per_token)
    with torch.no_grad():  # the model checks image tokens against image features itself
        assert model(**scored).logits.shape[:2] == (3, width)


def test_unknown_layout_names_the_known_ones():
    with pytest.raises(ValueError, match=r"no image-question layout for 'llama'; known: llava"):
        config = tiny_model("llama").config
        vqa_batch(config, byte_tokenizer(), torch.zeros(1, 3, 8, 8), ["?"], ["a"])


@pytest.mark.parametrize("family", VLMS)
def test_model_against_itself_is_perfect(family):
    model = tiny_model(family)
    result = compare_vqa(model, model, [tiny_vqa_batch(model, seed=7)], weights=TINY_RANDOM)
    assert result["logits_rel_error"] == 0 and result["answer_top1_agreement"] == 1
    assert result["generated_token_agreement"] == 1 and result["generated_exact_match"] == 1
    assert result["ann_answer_accuracy"] == result["snn_answer_accuracy"]


@pytest.mark.parametrize("family", VLMS)
def test_converted_vlm_follows_the_original(family):
    model, snn = converted(family)
    batches = [tiny_vqa_batch(model, batch=3, seed=s) for s in (5, 6)]
    result = compare_vqa(model, snn, batches, weights=TINY_RANDOM)
    assert result["weights"] == "tiny-random" and result["items"] == 6
    assert result["answer_tokens"] == int(sum(b.answer_mask.sum() for b in batches))
    assert result["logits_rel_error"] < 1e-3
    assert result["answer_top1_agreement"] == 1 and result["generated_token_agreement"] == 1
