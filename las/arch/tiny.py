"""Tiny randomly initialised models of every supported family, built from config objects.

They prove code paths (equivalence, cost, the pipeline's plumbing) where no pretrained weights are
available offline; they never stand for accuracy. :func:`byte_tokenizer` gives them a real,
offline tokenizer (byte-level, 256 tokens + EOS).
"""

from __future__ import annotations

import torch
import transformers as tf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

VOCAB = 257  # 256 byte tokens + EOS: matches byte_tokenizer()


def _decoder_kwargs() -> dict:
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
    "bert": lambda: tf.BertModel(
        tf.BertConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=64,
        )
    ),
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
    "clip_vision": lambda: tf.CLIPVisionModel(
        tf.CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        )
    ),
}


def tiny_model(family: str, dtype: torch.dtype = torch.float32) -> tf.PreTrainedModel:
    """A seeded tiny model of ``family``, eval mode; ``ValueError`` listing families if unknown."""
    if family not in BUILDERS:
        raise ValueError(f"unknown tiny family {family!r}; known: {', '.join(sorted(BUILDERS))}")
    torch.manual_seed(0)
    return BUILDERS[family]().to(dtype).eval()


def byte_tokenizer() -> tf.PreTrainedTokenizerFast:
    """A byte-level tokenizer without merges: one token per byte (ids 0-255), 256 is EOS/PAD."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)} | {"<eos>": len(alphabet)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tf.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")


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
