"""The registered architecture families (see :mod:`las.arch.base` for what a declaration means)."""

from __future__ import annotations

from las.arch.base import Adapter, GatedFFN, PlainFFN, register

LLAMA = register(
    Adapter(
        name="llama",
        model_types=("llama", "mistral", "qwen2"),
        blocks=r"(^|\.)layers$",
        attention="self_attn",
        ffn=GatedFFN("mlp"),
        extra_norms=r"(^|\.)norm$",
    )
)

GPT2 = register(
    Adapter(
        name="gpt2",
        model_types=("gpt2",),
        blocks=r"(^|\.)h$",
        attention="attn",
        ffn=PlainFFN("mlp.c_fc", "mlp.act"),
        extra_norms=r"(^|\.)ln_f$",
    )
)

OPT = register(
    Adapter(
        name="opt",
        model_types=("opt",),
        blocks=r"(^|\.)decoder\.layers$",
        attention="self_attn",
        ffn=PlainFFN("fc1", "activation_fn"),
        extra_norms=r"(^|\.)decoder\.final_layer_norm$",
    )
)

BERT = register(
    Adapter(
        name="bert",
        model_types=("bert", "roberta"),
        blocks=r"(^|\.)encoder\.layer$",
        attention="attention.self",
        ffn=PlainFFN("intermediate.dense", "intermediate.intermediate_act_fn"),
        extra_norms=r"(^|\.)embeddings\.LayerNorm$",
        head=None,
    )
)

CLIP_VISION = register(
    Adapter(
        name="clip_vision",
        model_types=("clip_vision_model", "siglip_vision_model"),
        blocks=r"(^|\.)encoder\.layers$",
        attention="self_attn",
        ffn=PlainFFN("mlp.fc1", "mlp.activation_fn"),
        extra_norms=r"(^|\.)(pre_layrnorm|post_layernorm)$",
        head=None,
    )
)
