"""Conversion of vision-language models (tiny random LLaVA and Qwen2-VL): both towers spiking."""

from __future__ import annotations

import functools

import pytest
import torch
import transformers as tf
from torch import nn

from las import Calibration, ConversionConfig, convert_model
from las.arch.tiny import VLM_BUILDERS, tiny_model, tiny_vqa_batch
from las.calibration import RuleConfig, calibrate_model, collect_statistics
from las.ops import SpikingAttentionCore, SpikingOp, set_mode
from las.vqa import VQABatch

VLMS = sorted(VLM_BUILDERS)
# What stays float, as documented in las.arch.families: the input encodings (token embedding
# lookup, patch embedding on raw pixels, class/position embeddings) and RoPE tables; Identity is
# where an activation module was (its function now an HG neuron fused into the linear map before).
FLOAT_PARTS = (nn.Embedding, nn.Conv2d, nn.Conv3d, nn.Identity)


@functools.cache
def calibrated(family: str, dtype=torch.float32):
    """The tiny model and its calibration (shared: tests convert copies and never mutate them)."""
    # margin 1.0: held-out inputs of a 4-batch calibration stay unclipped (see test_convert).
    model = tiny_model(family, dtype)
    batches = [tiny_vqa_batch(model, seed=s).scoring_inputs() for s in range(4)]
    calibration, _ = calibrate_model(model, batches, rule=RuleConfig(margin=1.0))
    return model, calibration


def logits(model, family_model, seed=5):
    with torch.no_grad():
        return model(**tiny_vqa_batch(family_model, seed=seed).scoring_inputs()).logits


@pytest.mark.parametrize("family", VLMS)
def test_spike_mode_equals_fast_mode(family):
    model, calibration = calibrated(family, torch.float64)
    snn = convert_model(model, calibration, ConversionConfig(T=8))
    fast = logits(snn, model)
    set_mode(snn, "spike")
    spike = logits(snn, model)
    assert fast.dtype == torch.float64
    assert torch.allclose(spike, fast, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("family", VLMS)
def test_converted_output_matches_float_model(family):
    model, calibration = calibrated(family)
    reference = logits(model, model)
    errors = {}
    for T in (8, 16):
        out = logits(convert_model(model, calibration, ConversionConfig(T=T)), model)
        errors[T] = float((out - reference).norm() / reference.norm())
    # Same bound as the single-stack families: vision tower, projector and decoder in series.
    assert errors[16] < 1e-3, errors
    assert errors[8] > errors[16], errors


@pytest.mark.parametrize("family", VLMS)
def test_vision_and_language_blocks_are_fully_spiking(family):
    model, calibration = calibrated(family)
    snn = convert_model(model, calibration)
    ops = [name for name, m in snn.named_modules() if isinstance(m, SpikingOp)]
    float_left = [
        name
        for name, module in snn.named_modules()
        if next(module.children(), None) is None  # a leaf: linear, norm, activation, ...
        and not any(name == p or name.startswith(p + ".") for p in ops)
        and not isinstance(module, FLOAT_PARTS)
        and not name.endswith(("rotary_emb", "rotary_pos_emb"))
    ]
    assert float_left == []
    cores = [n for n, m in snn.named_modules() if isinstance(m, SpikingAttentionCore)]
    assert len(cores) == 4 and sum("language_model" in n for n in cores) == 2
    models = [m for m in snn.modules() if isinstance(m, tf.PreTrainedModel)]
    assert len(models) == 4  # the composite, its base model, vision tower, language model
    assert all(m.config._attn_implementation == "las" for m in models)
    assert type(snn) is type(model) and model.config._attn_implementation != "las"


def test_qwen2_vl_vision_attention_stays_per_image():
    # The packed vision sequence is split at cu_seqlens: one spiking core call per image, and an
    # image's features do not depend on the other images of the batch (block-diagonal attention).
    model, calibration = calibrated("qwen2_vl")
    snn = convert_model(model, calibration)
    prompt = tiny_vqa_batch(model, batch=3, seed=5).prompt
    pixels, grid = prompt["pixel_values"], prompt["image_grid_thw"]
    core = snn.model.visual.blocks[0].attn.las_core
    lengths = []
    handle = core.register_forward_hook(lambda m, args, out: lengths.append(args[0].shape[-2]))
    with torch.no_grad():
        together = snn.model.visual(pixels, grid_thw=grid).pooler_output
        per_image = pixels.shape[0] // 3
        alone = [
            snn.model.visual(pixels[i * per_image : (i + 1) * per_image], grid_thw=grid[i : i + 1])
            for i in range(3)
        ]
    handle.remove()
    assert lengths[:3] == [per_image] * 3
    alone = torch.cat([out.pooler_output for out in alone])
    assert torch.allclose(together, alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", VLMS)
def test_generate_with_kv_cache_matches_full_forward(family):
    model, calibration = calibrated(family)
    snn = convert_model(model, calibration)
    batch = tiny_vqa_batch(model, seed=5)
    width = batch.prompt["input_ids"].shape[1]
    out = snn.generate(**batch.prompt, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    new = out[:, width:]
    assert new.shape == (2, 5)
    full = VQABatch(batch.prompt, new, torch.ones_like(new, dtype=torch.bool)).scoring_inputs()
    with torch.no_grad():
        predicted = snn(**full).logits[:, width - 1 : -1].argmax(-1)
    assert torch.equal(predicted, new)


@pytest.mark.parametrize("family", VLMS)
def test_calibration_observes_every_site_on_image_text_batches(family):
    model = tiny_model(family)
    batches = [tiny_vqa_batch(model, seed=s).scoring_inputs() for s in range(2)]
    observers = collect_statistics(model, batches)
    assert all(stats.count > 0 for stats in observers.stats.values())
    tower = "vision_tower" if family == "llava" else "visual"
    projector = "multi_modal_projector" if family == "llava" else "visual.merger"
    for part in (tower, projector, "language_model", "lm_head"):
        assert any(f"model.{part}." in s or s.startswith(part) for s in observers.stats), part


def test_unsupported_part_names_the_part():
    config = tf.LlavaConfig(
        vision_config=tf.ViTConfig(
            hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
        ),
        text_config=tf.LlamaConfig(
            vocab_size=50,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
        ),
        image_token_index=49,
    )
    model = tf.LlavaForConditionalGeneration(config)
    with pytest.raises(ValueError, match=r"llava part model\.vision_tower: .*'vit'.*clip_vision"):
        convert_model(model, Calibration({}, {}))
