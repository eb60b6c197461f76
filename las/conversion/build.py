"""Replace the modules of a ``transformers`` model by spike-equivalent ones (in place).

Driven by an :class:`las.arch.Adapter` (where things are) and a
:class:`las.conversion.sites.NeuronFactory` (what sits at each site).
"""

from __future__ import annotations

import re

from torch import nn
from transformers import PreTrainedModel

from las.arch import Adapter, GatedFFN, adapter_for
from las.conversion import attention
from las.conversion.sites import OAT, PROBABILITY, NeuronFactory, Role, hg
from las.ops import (
    SpikingAttentionCore,
    SpikingFFN,
    SpikingLayerNorm,
    SpikingLinear,
    SpikingOp,
    SpikingRMSNorm,
)
from las.ops.functional import SoftmaxOffset

NORM_ROLES = {"input": OAT, "square": hg("square"), "rsqrt": hg("rsqrt"), "output": OAT}
LAYER_NORM_ROLES = NORM_ROLES | {"centred": OAT}
ATTENTION_ROLES = {
    "query": OAT,
    "key": OAT,
    "value": OAT,
    "exp": hg("exp"),
    "reciprocal": hg("reciprocal"),
    "probability": PROBABILITY,
}


def _neurons(factory: NeuronFactory, path: str, roles: dict[str, Role]) -> dict[str, nn.Module]:
    return {name: factory(f"{path}.{name}", role) for name, role in roles.items()}


def is_linear(module: nn.Module) -> bool:
    """``nn.Linear`` or GPT-2's ``Conv1D`` (weight stored ``[in, out]``)."""
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def is_norm(module: nn.Module) -> bool:
    """``nn.LayerNorm`` or an ``*RMSNorm`` module of transformers (not an already spiking one)."""
    if isinstance(module, SpikingOp):
        return False
    return isinstance(module, nn.LayerNorm) or type(module).__name__.endswith("RMSNorm")


def spiking_linear(
    module: nn.Module, factory: NeuronFactory, path: str, activation: str | None = None
) -> SpikingLinear:
    """The spiking form of a linear layer at ``path`` (fused with an HG activation if given)."""
    roles = {"input": OAT} | ({"activation": hg(activation)} if activation else {})
    transposed = type(module).__name__ == "Conv1D"
    return SpikingLinear(
        module.weight, module.bias, _neurons(factory, path, roles), factory.T, transposed
    )


def spiking_norm(module: nn.Module, factory: NeuronFactory, path: str) -> SpikingOp:
    """The spiking form of a LayerNorm or RMSNorm module at ``path``."""
    if isinstance(module, nn.LayerNorm):
        neurons = _neurons(factory, path, LAYER_NORM_ROLES)
        return SpikingLayerNorm(module.weight, module.bias, module.eps, neurons, factory.T)
    if "Gemma" in type(module).__name__:
        raise ValueError(f"{path}: Gemma-style (1 + w) RMSNorm is not supported yet")
    eps = getattr(module, "variance_epsilon", getattr(module, "eps", None))
    return SpikingRMSNorm(module.weight, float(eps), _neurons(factory, path, NORM_ROLES), factory.T)


def _convert_ffn(block: nn.Module, path: str, adapter: Adapter, act: str, factory: NeuronFactory):
    ffn = adapter.ffn
    if isinstance(ffn, GatedFFN):
        mlp = block.get_submodule(ffn.path)
        gate, up, down = (mlp.get_submodule(n) for n in (ffn.gate, ffn.up, ffn.down))
        roles = {"input": OAT, "activation": hg(act), "hidden": OAT}
        new = SpikingFFN(
            up.weight,
            up.bias,
            down.weight,
            down.bias,
            _neurons(factory, f"{path}.{ffn.path}", roles),
            factory.T,
            gate.weight,
            gate.bias,
        )
        block.set_submodule(ffn.path, new)
        return
    first = block.get_submodule(ffn.first)
    block.set_submodule(
        ffn.first, spiking_linear(first, factory, f"{path}.{ffn.first}", activation=act)
    )
    block.set_submodule(ffn.activation, nn.Identity())


def _convert_block(
    block: nn.Module,
    path: str,
    adapter: Adapter,
    act: str,
    factory: NeuronFactory,
    spike_attention: bool,
    offset: SoftmaxOffset,
) -> None:
    _convert_ffn(block, path, adapter, act, factory)
    if spike_attention:
        attn = block.get_submodule(adapter.attention)
        core_path = f"{path}.{adapter.attention}.las_core"
        attn.las_core = SpikingAttentionCore(
            _neurons(factory, core_path, ATTENTION_ROLES), factory.T, offset
        )
    for name, module in list(block.named_modules()):
        if name and not _inside_spiking_op(block, name):
            if is_linear(module):
                block.set_submodule(name, spiking_linear(module, factory, f"{path}.{name}"))
            elif is_norm(module):
                block.set_submodule(name, spiking_norm(module, factory, f"{path}.{name}"))


def _inside_spiking_op(root: nn.Module, name: str) -> bool:
    parts = name.split(".")
    return any(
        isinstance(root.get_submodule(".".join(parts[:i])), SpikingOp) for i in range(1, len(parts))
    )


def build_spiking(
    model: PreTrainedModel,
    factory: NeuronFactory,
    *,
    spike_attention: bool = True,
    softmax_offset: SoftmaxOffset = "max",
    convert_head: bool = True,
) -> PreTrainedModel:
    """Convert ``model`` in place: every block, the extra norms and (optionally) the head.

    Raises ``ValueError`` for an unsupported architecture (listing the supported ones) or a
    model in which the adapter finds no blocks.
    """
    adapter = adapter_for(model.config)
    act = adapter.activation(model.config)
    block_lists = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, nn.ModuleList) and re.search(adapter.blocks, name)
    ]
    if not block_lists:
        raise ValueError(f"{adapter.name}: found no blocks matching {adapter.blocks!r}")
    for list_path, blocks in block_lists:
        for i, block in enumerate(blocks):
            _convert_block(
                block, f"{list_path}.{i}", adapter, act, factory, spike_attention, softmax_offset
            )
    for name, module in list(model.named_modules()):
        if re.search(adapter.extra_norms, name) and is_norm(module):
            model.set_submodule(name, spiking_norm(module, factory, name))
    if convert_head and adapter.head and isinstance(getattr(model, adapter.head, None), nn.Linear):
        model.set_submodule(
            adapter.head, spiking_linear(model.get_submodule(adapter.head), factory, adapter.head)
        )
    if spike_attention:
        attention.register()
        model.config._attn_implementation = attention.IMPLEMENTATION
    return model
