"""The registered architecture families (see :mod:`las.arch.base` for what a declaration means).

``qwen2_vl_text`` (Qwen2-VL's language model) is a Qwen2 decoder whose RoPE is M-RoPE: like RoPE,
a fixed linear map on the accumulated Q/K, so the LLaMA layout covers it unchanged.
"""

from __future__ import annotations

from las.arch.base import Adapter, Composite, GatedFFN, PlainFFN, Projector, register

LLAMA = register(
    Adapter(
        name="llama",
        model_types=("llama", "mistral", "qwen2", "qwen2_vl_text"),
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
        ffn=PlainFFN("mlp.c_fc", "mlp.act", "mlp.c_proj"),
        extra_norms=r"(^|\.)ln_f$",
    )
)

OPT = register(
    Adapter(
        name="opt",
        model_types=("opt",),
        blocks=r"(^|\.)decoder\.layers$",
        attention="self_attn",
        ffn=PlainFFN("fc1", "activation_fn", "fc2"),
        extra_norms=r"(^|\.)decoder\.final_layer_norm$",
    )
)

BERT = register(
    Adapter(
        name="bert",
        model_types=("bert", "roberta"),
        blocks=r"(^|\.)encoder\.layer$",
        attention="attention.self",
        ffn=PlainFFN("intermediate.dense", "intermediate.intermediate_act_fn", "output.dense"),
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
        ffn=PlainFFN("mlp.fc1", "mlp.activation_fn", "mlp.fc2"),
        extra_norms=r"(^|\.)(pre_layrnorm|post_layernorm)$",
        head=None,
    )
)

QWEN2_VL_VISION = register(
    Adapter(
        name="qwen2_vl_vision",
        model_types=("qwen2_vl_vision",),
        blocks=r"(^|\.)blocks$",
        attention="attn",
        ffn=PlainFFN("mlp.fc1", "mlp.act", "mlp.fc2"),
        extra_norms=None,
        head=None,
        projectors=(Projector(r"(^|\.)merger$", PlainFFN("mlp.0", "mlp.1"), activation="gelu"),),
    )
)
"""Qwen2-VL's vision transformer: pre-norm blocks with a fused ``qkv`` projection, 2D RoPE and a
patch merger (LayerNorm, then Linear-GELU-Linear on 2x2 merged patches), all converted. The vision
attention runs its ``las`` core once per image (the model splits the packed sequence at
``cu_seqlens``), so attention stays block-diagonal. Float: the patch embedding (a Conv3d on raw
pixels, the input encoding) and the 2D RoPE (a fixed linear map on the accumulated Q/K)."""

LLAVA = register(
    Composite(
        name="llava",
        model_types=("llava",),
        parts=r"(^|\.)(vision_tower|language_model)$",
        projectors=(
            Projector(
                r"(^|\.)multi_modal_projector$",
                PlainFFN("linear_1", "act"),
                activation_key="projector_hidden_act",
            ),
        ),
    )
)
"""LLaVA: a CLIP/SigLIP vision tower, a Linear-GELU-Linear projector and a decoder, all converted.
Float: the vision tower's patch embedding (a Conv2d on raw pixels, the input encoding), its class
and position embeddings, and the token embedding lookup. The whole tower is converted, though LLaVA
reads the hidden state of ``vision_feature_layer`` (default -2): the layers after it still run."""

QWEN2_VL = register(
    Composite(
        name="qwen2_vl",
        model_types=("qwen2_vl",),
        parts=r"(^|\.)(visual|language_model)$",
    )
)
"""Qwen2-VL: the vision transformer (patch merger included, see ``QWEN2_VL_VISION``) and a Qwen2
decoder with M-RoPE, both converted; float as stated for each part and the embedding lookup."""
