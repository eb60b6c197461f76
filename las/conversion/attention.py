"""The ``las`` attention function registered with transformers' attention interface.

Every supported architecture calls ``ALL_ATTENTION_FUNCTIONS[config._attn_implementation]`` with
(module, query, key, value, mask, scaling) after its projections, RoPE and KV cache update. With
``_attn_implementation = "las"`` that call lands here and runs the module's spike-equivalent core
(:class:`las.ops.SpikingAttentionCore`, attached as ``module.las_core`` by the converter).

The mask arrives built: transformers makes it through the mask interface registered for the same
name (:func:`las_mask`), with the model's mask function, so sliding-window layers get their window
(``sliding_window`` passed to the attention call is then redundant). A ``softcap`` argument
(Gemma 2's score soft-cap) goes to the core, which caps the scores with its HG tanh neuron.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

IMPLEMENTATION = "las"


def keep_mask(
    attention_mask: Tensor | None, q_len: int, k_len: int, causal: bool, device: torch.device
) -> Tensor | None:
    """Boolean mask (True = attend), broadcastable to ``[B, H, q_len, k_len]``, or None."""
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            return attention_mask[..., :k_len]
        return attention_mask[..., :k_len] > torch.finfo(attention_mask.dtype).min / 2
    if causal and q_len > 1:
        return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(k_len - q_len)
    return None


def las_attention(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[Tensor, None]:
    """Attention through ``module.las_core``; returns ``([B, q_len, H, d], None)``.

    ``kwargs`` may carry ``is_causal`` (used when no mask is given) and ``softcap``.
    """
    core = getattr(module, "las_core", None)
    if core is None:
        raise RuntimeError(
            f"{type(module).__name__} has no spiking core: the model's attention implementation "
            "is 'las' but the module was not converted (convert the model with las.convert)"
        )
    groups = query.shape[1] // key.shape[1]
    if groups > 1:  # grouped-query attention: share each K/V head with its query heads
        key, value = (t.repeat_interleave(groups, dim=1) for t in (key, value))
    causal = bool(kwargs.get("is_causal", getattr(module, "is_causal", False)))
    keep = keep_mask(attention_mask, query.shape[-2], key.shape[-2], causal, query.device)
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    out = core(query, key, value, scaling=scale, keep=keep, softcap=kwargs.get("softcap"))
    return out.transpose(1, 2).contiguous(), None


def las_mask(*args: Any, **kwargs: Any) -> Tensor | None:
    """SDPA-style boolean masks, never skipped: the spiking softmax always needs explicit masks."""
    from transformers.masking_utils import sdpa_mask

    kwargs["allow_is_causal_skip"] = False
    kwargs["allow_is_bidirectional_skip"] = False
    kwargs.pop("dtype", None)
    kwargs.pop("config", None)
    return sdpa_mask(*args, **kwargs)


def register() -> None:
    """Register the ``las`` attention and mask functions with transformers (idempotent).

    transformers is imported here, when a model is converted: importing this module (any stage
    that reads a conversion config) does not load its modeling code.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(IMPLEMENTATION, las_attention)
    AttentionMaskInterface.register(IMPLEMENTATION, las_mask)
