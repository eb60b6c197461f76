"""The registered architecture families (see :mod:`las.arch.base` for what a declaration means).

``qwen2_vl_text`` (Qwen2-VL's language model) is a Qwen2 decoder whose RoPE is M-RoPE: like RoPE,
a fixed linear map on the accumulated Q/K, so the LLaMA layout covers it unchanged. Qwen3 is the
LLaMA layout plus an RMSNorm on each head's q and k inside the attention (``q_norm``, ``k_norm``),
which become spiking RMSNorms like every norm of a block.

Sliding-window layers (Mistral, Qwen3, Phi-3, Gemma 2/3) need nothing here: transformers builds
their window mask through the mask interface of ``config._attn_implementation``, which for
``las`` is :func:`las.conversion.attention.las_mask`, and the spiking softmax reads that mask.
"""

from __future__ import annotations

from dataclasses import replace

from las.arch.base import Adapter, Composite, GatedFFN, PlainFFN, Projector, register

LLAMA = register(
    Adapter(
        name="llama",
        model_types=("llama", "mistral", "qwen2", "qwen2_vl_text", "qwen3"),
        blocks=r"(^|\.)layers$",
        attention="self_attn",
        ffn=GatedFFN("mlp"),
        extra_norms=r"(^|\.)norm$",
    )
)

GEMMA = register(
    replace(
        LLAMA,
        name="gemma",
        model_types=("gemma", "gemma3_text"),
        activation_keys=("hidden_activation", "hidden_act"),
        norm_offset=1.0,
    )
)
"""Gemma and Gemma 3 (text): the LLaMA layout with GeGLU (tanh GELU; ``hidden_act`` in Gemma,
``hidden_activation`` from Gemma 2 on) and ``(1 + w)`` RMSNorms (Gemma 3: four per block, around
attention and around the FFN, plus q/k norms). Gemma 2/3 scale scores by
``query_pre_attn_scalar**-0.5``, which the attention passes to the ``las`` core as ``scaling``.
Float: the token embedding scaled by ``sqrt(hidden_size)``, the input encoding. Gemma 3's
sliding-window layers get their window mask through ``las_mask``; its attention does not read
its config's ``attn_logit_softcapping`` (nothing to convert), and a ``final_logit_softcapping``
(None in released checkpoints) is applied by the model's forward to the head's output in float,
as in Gemma 2 (below). ``gemma3``, the multimodal wrapper, is not registered: convert its
language model (``Gemma3ForCausalLM``, ``gemma3_text``)."""

GEMMA2 = register(
    replace(
        GEMMA,
        name="gemma2",
        model_types=("gemma2",),
        attention_softcap="attn_logit_softcapping",
    )
)
"""Gemma 2: the Gemma layout with four norms per block, alternating sliding-window layers and
attention-score soft-capping ``c tanh(s / c)`` (``attn_logit_softcapping``, 50), an HG tanh in
the attention core. The final logit soft-cap (``final_logit_softcapping``, 30) is a monotone map
of the output logits applied by the model's forward in float after the (spiking) head: part of
the readout, outside the network like the log-softmax of scoring (and like BERT's pooler tanh)."""

PHI3 = register(
    replace(
        LLAMA,
        name="phi3",
        model_types=("phi3",),
        ffn=GatedFFN("mlp", gate="gate_up_proj", up=None, activation="activation_fn"),
    )
)
"""Phi-3: the LLaMA layout with a fused ``qkv_proj`` (one spiking linear map, split by the
attention after it) and a fused ``gate_up_proj`` (the gated FFN's fused form). Its RoPE
(partial, or LongRoPE's rescaled frequencies) is a fixed linear map on the accumulated Q/K."""

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

GPT_NEOX = register(
    Adapter(
        name="gpt_neox",
        model_types=("gpt_neox",),
        blocks=r"(^|\.)gpt_neox\.layers$",
        attention="attention",
        ffn=PlainFFN("mlp.dense_h_to_4h", "mlp.act", "mlp.dense_4h_to_h"),
        extra_norms=r"(^|\.)gpt_neox\.final_layer_norm$",
    )
)
"""GPT-NeoX / Pythia: LayerNorm blocks with a fused ``query_key_value`` map, partial RoPE on the
first ``partial_rotary_factor`` (``rotary_pct``) of each head's dims (a fixed linear map on the
accumulated Q/K) and, with ``use_parallel_residual``, attention and FFN reading the same input
(``x + attn(ln1(x)) + mlp(ln2(x))``: sums of spike trains, nothing to convert). The head is
``lm_head`` (checkpoints' ``embed_out``, renamed by transformers when loading)."""

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
