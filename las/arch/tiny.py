"""Tiny randomly initialised models of every supported family, built from config objects.

They prove code paths (equivalence, cost, the pipeline's plumbing) where no pretrained weights are
available offline; they never stand for accuracy. :func:`byte_tokenizer` gives them a real,
offline tokenizer (byte-level, 256 tokens + EOS). The vision-language models (``VLM_BUILDERS``)
add four special tokens after it (image, vision start/end, video) and take processor-free inputs
from :func:`tiny_vqa_batch` (synthetic images, byte-level questions; see :mod:`las.vqa.batch`).
"""

from __future__ import annotations

import torch
import transformers as tf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from las.vqa import VQABatch, synthetic_batch

VOCAB = 257  # 256 byte tokens + EOS: matches byte_tokenizer()
EOS = VOCAB - 1
IMAGE_TOKEN, VISION_START, VISION_END, VIDEO_TOKEN = range(VOCAB, VOCAB + 4)
VLM_VOCAB = VOCAB + 4
TINY_RANDOM = "tiny-random"  # the ``weights`` label of every result on these models


def _decoder_kwargs() -> dict:
    """Sizes shared by every tiny text model (the decoders and the BERT encoders)."""
    return dict(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
    )


BUILDERS = {
    "llama": lambda: tf.LlamaForCausalLM(
        tf.LlamaConfig(**_decoder_kwargs(), num_key_value_heads=2)
    ),
    "mistral": lambda: tf.MistralForCausalLM(
        tf.MistralConfig(**_decoder_kwargs(), num_key_value_heads=2)
    ),
    "qwen2": lambda: tf.Qwen2ForCausalLM(
        tf.Qwen2Config(**_decoder_kwargs(), num_key_value_heads=2)
    ),
    "qwen3": lambda: tf.Qwen3ForCausalLM(
        tf.Qwen3Config(**_decoder_kwargs(), num_key_value_heads=2, head_dim=8)
    ),
    "phi3": lambda: tf.Phi3ForCausalLM(
        tf.Phi3Config(
            **_decoder_kwargs(),
            num_key_value_heads=2,
            bos_token_id=EOS,
            eos_token_id=EOS,
            pad_token_id=EOS,
        )
    ),
    "gemma": lambda: _random_norms(
        tf.GemmaForCausalLM(tf.GemmaConfig(**_decoder_kwargs(), num_key_value_heads=2, head_dim=8))
    ),
    "gemma2": lambda: _random_norms(
        tf.Gemma2ForCausalLM(
            # Soft-caps near the tiny model's score (0.06) and logit (0.4) ranges: both bend.
            tf.Gemma2Config(
                **_gemma_kwargs(), attn_logit_softcapping=0.05, final_logit_softcapping=0.5
            )
        )
    ),
    "gemma3": lambda: _random_norms(tf.Gemma3ForCausalLM(tf.Gemma3TextConfig(**_gemma_kwargs()))),
    "gpt_neox": lambda: tf.GPTNeoXForCausalLM(
        tf.GPTNeoXConfig(**_decoder_kwargs(), bos_token_id=EOS, eos_token_id=EOS)
    ),
    "gpt2": lambda: tf.GPT2LMHeadModel(
        tf.GPT2Config(
            vocab_size=VOCAB,
            n_embd=32,
            n_layer=2,
            n_head=4,
            n_positions=64,
            bos_token_id=0,
            eos_token_id=0,
        )
    ),
    "opt": lambda: tf.OPTForCausalLM(
        tf.OPTConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            ffn_dim=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=64,
            word_embed_proj_dim=32,
        )
    ),
    "bert": lambda: tf.BertModel(_bert_config()),
    # A BERT encoder with its sequence-classification head (pooler + linear, 2 labels): the GLUE
    # path's plumbing (las.evaluate_glue), never accuracy.
    "bert_classifier": lambda: tf.BertForSequenceClassification(_bert_config(num_labels=2)),
    "roberta": lambda: tf.RobertaModel(
        tf.RobertaConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=70,
        )
    ),
    "clip_vision": lambda: tf.CLIPVisionModel(tf.CLIPVisionConfig(**_clip_kwargs())),
}


def _bert_config(**extra) -> tf.BertConfig:
    return tf.BertConfig(**_decoder_kwargs(), **extra)


def _gemma_kwargs() -> dict:
    """Gemma 2/3: a sliding window (4) shorter than the test inputs (12) on layer 0 and a score
    scaling ``query_pre_attn_scalar**-0.5`` other than ``head_dim**-0.5``."""
    return _decoder_kwargs() | dict(
        num_key_value_heads=2,
        head_dim=8,
        query_pre_attn_scalar=16,
        sliding_window=4,
        layer_types=["sliding_attention", "full_attention"],
    )


def _random_norms(model: tf.PreTrainedModel) -> tf.PreTrainedModel:
    """Gemma initialises the ``w`` of its ``(1 + w)`` RMSNorms to 0: random ones exercise it."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.normal_(0.0, 0.5)
    return model


def _clip_kwargs() -> dict:
    return dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
    )


def _vlm_text_kwargs() -> dict:
    return _decoder_kwargs() | dict(
        vocab_size=VLM_VOCAB,
        num_key_value_heads=2,
        bos_token_id=EOS,
        eos_token_id=EOS,
        pad_token_id=EOS,
    )


def _llava() -> tf.LlavaForConditionalGeneration:
    """CLIP tower (32x32 images, 8x8 patches: 16 image tokens once CLS is dropped) + LLaMA."""
    return tf.LlavaForConditionalGeneration(
        tf.LlavaConfig(
            vision_config=tf.CLIPVisionConfig(**_clip_kwargs()),
            text_config=tf.LlamaConfig(**_vlm_text_kwargs()),
            image_token_index=IMAGE_TOKEN,
            image_seq_length=16,
        )
    )


def _qwen2_vl() -> tf.Qwen2VLForConditionalGeneration:
    """Qwen2-VL vision transformer (16x16 images, 4x4 patches, 2x2 merge: 4 image tokens) + M-RoPE
    decoder (head dim 8: M-RoPE sections 2+1+1 frequencies for time, height, width)."""
    return tf.Qwen2VLForConditionalGeneration(
        tf.Qwen2VLConfig(
            text_config=tf.Qwen2VLTextConfig(
                **_vlm_text_kwargs(),
                rope_parameters={"rope_type": "default", "mrope_section": [2, 1, 1]},
            ),
            vision_config=tf.Qwen2VLVisionConfig(
                depth=2,
                embed_dim=32,
                hidden_size=32,
                num_heads=4,
                mlp_ratio=2,
                patch_size=4,
                temporal_patch_size=2,
                spatial_merge_size=2,
            ),
            image_token_id=IMAGE_TOKEN,
            vision_start_token_id=VISION_START,
            vision_end_token_id=VISION_END,
            video_token_id=VIDEO_TOKEN,
        )
    )


VLM_BUILDERS = {"llava": _llava, "qwen2_vl": _qwen2_vl}


def tiny_model(family: str, dtype: torch.dtype = torch.float32) -> tf.PreTrainedModel:
    """A seeded tiny model of ``family``, eval mode; ``ValueError`` listing families if unknown."""
    builders = BUILDERS | VLM_BUILDERS
    if family not in builders:
        raise ValueError(f"unknown tiny family {family!r}; known: {', '.join(sorted(builders))}")
    torch.manual_seed(0)
    return builders[family]().to(dtype).eval()


def byte_tokenizer() -> tf.PreTrainedTokenizerFast:
    """A byte-level tokenizer without merges: one token per byte (ids 0-255), 256 is EOS/PAD."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)} | {"<eos>": len(alphabet)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tf.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")


#: The special tokens of each tiny VLM's processor, in id order from ``IMAGE_TOKEN`` (the names
#: its transformers processor expects).
VLM_TOKENS = {
    "llava": ("<image>", "<vision_start>", "<vision_end>", "<video>"),
    "qwen2_vl": ("<|image_pad|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>"),
}


#: Qwen2-VL's chat layout (role turns, an image as its vision tokens), for harnesses that apply
#: the processor's chat template (lmms-eval's ``qwen2_vl``).
QWEN2_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif c['type'] == 'text' %}{{ c['text'] }}"
    "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class ImageQwen2VLProcessor(tf.Qwen2VLProcessor):
    """Qwen2-VL's processor for images only: its video processor needs torchvision (not a
    dependency); text and image handling are Qwen2-VL's own."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


def tiny_processor(family: str) -> tf.ProcessorMixin:
    """The transformers processor of a tiny VLM (image and byte-level text, as the model's hub
    processor lays them out): LLaVA's with a CLIP image processor at 32x32 (16 image tokens),
    Qwen2-VL's at 32x32 pixels (4x4 patches, 2x2 merge: 16 image tokens)."""
    if family not in VLM_BUILDERS:
        raise ValueError(f"no tiny processor for {family!r}; known: {', '.join(VLM_BUILDERS)}")
    tokenizer = byte_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": list(VLM_TOKENS[family])})
    if family == "llava":
        side = _clip_kwargs()["image_size"]
        images = tf.CLIPImageProcessorPil(
            size={"shortest_edge": side}, crop_size={"height": side, "width": side}
        )
        return tf.LlavaProcessor(
            image_processor=images,
            tokenizer=tokenizer,
            patch_size=_clip_kwargs()["patch_size"],
            vision_feature_select_strategy="default",
            num_additional_image_tokens=1,  # CLS, dropped by the "default" strategy
        )
    pixels = 32 * 32
    images = Qwen2VLImageProcessorPil(
        patch_size=4, merge_size=2, temporal_patch_size=2, min_pixels=pixels, max_pixels=pixels
    )
    tokenizer.chat_template = QWEN2_VL_CHAT_TEMPLATE
    return ImageQwen2VLProcessor(
        image_processor=images, tokenizer=tokenizer, chat_template=QWEN2_VL_CHAT_TEMPLATE
    )


def tiny_inputs(family: str, batch: int = 2, length: int = 12, seed: int = 0) -> dict:
    """Model inputs for ``family``: token ids with a padded row, or pixel values."""
    gen = torch.Generator().manual_seed(seed)
    if family == "clip_vision":
        return {"pixel_values": torch.randn(batch, 3, 32, 32, generator=gen)}
    ids = torch.randint(3, VOCAB - 1, (batch, length), generator=gen)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[-1, : length // 4] = 0  # left padding in the last row
    return {"input_ids": ids, "attention_mask": mask}


def output_tensor(output) -> torch.Tensor:
    """The main output tensor: ``logits`` or ``last_hidden_state``."""
    return output.logits if hasattr(output, "logits") else output.last_hidden_state


def tiny_vqa_batch(model: tf.PreTrainedModel, batch: int = 2, seed: int = 0) -> VQABatch:
    """Synthetic image-question items for a tiny VLM (:mod:`las.vqa`), byte-level text.

    ``batch.prompt`` is the model's input (``input_ids`` with image tokens, ``attention_mask``,
    ``pixel_values`` and, for Qwen2-VL, ``image_grid_thw`` and ``mm_token_type_ids``);
    ``batch.scoring_inputs()`` appends the reference answers.
    """
    return synthetic_batch(model.config, byte_tokenizer(), batch, seed)
