"""Replace the modules of a ``transformers`` model by spike-equivalent ones (in place).

Driven by an :class:`las.arch.Adapter` or :class:`las.arch.Composite` (where things are) and a
:class:`las.conversion.sites.NeuronFactory` (what sits at each site).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from torch import nn

from las.arch import Adapter, Composite, GatedFFN, PlainFFN, adapter_for
from las.conversion import attention
from las.conversion.sites import OAT, PROBABILITY, SCORE, NeuronFactory, Role, hg
from las.ops import (
    SpikingAttentionCore,
    SpikingFFN,
    SpikingLayerNorm,
    SpikingLinear,
    SpikingOp,
    SpikingRMSNorm,
)
from las.ops.functional import SoftmaxOffset

if TYPE_CHECKING:
    from transformers import PreTrainedModel

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
#: The neuron the spiking row max of the softmax reads (offset "max", M13).
REFERENCE_ROLES: dict[SoftmaxOffset, dict[str, Role]] = {"max": {"score": SCORE}, "first": {}}


def attention_roles(softcap: float | None, offset: SoftmaxOffset = "max") -> dict[str, Role]:
    """The sites of an attention core: the reference's (:data:`REFERENCE_ROLES`) and, with a
    score soft-cap, an HG tanh (``softcap``), whose output the score neuron then encodes."""
    roles = ATTENTION_ROLES | REFERENCE_ROLES[offset]
    return roles if softcap is None else roles | {"softcap": hg("tanh")}


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


def spiking_norm(
    module: nn.Module, factory: NeuronFactory, path: str, offset: float = 0.0
) -> SpikingOp:
    """The spiking form of a LayerNorm or RMSNorm module at ``path``.

    ``offset``: an RMSNorm's scale is ``offset + weight`` (the adapter's ``norm_offset``; Gemma's
    ``1 + w``).
    """
    if isinstance(module, nn.LayerNorm):
        neurons = _neurons(factory, path, LAYER_NORM_ROLES)
        return SpikingLayerNorm(module.weight, module.bias, module.eps, neurons, factory.T)
    eps = getattr(module, "variance_epsilon", getattr(module, "eps", None))
    neurons = _neurons(factory, path, NORM_ROLES)
    return SpikingRMSNorm(module.weight, float(eps), neurons, factory.T, offset)


def _matches(root: nn.Module, pattern: str) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in root.named_modules() if re.search(pattern, name)]


def _convert_ffn(
    owner: nn.Module, path: str, ffn: GatedFFN | PlainFFN, act: str, factory: NeuronFactory
) -> None:
    if isinstance(ffn, GatedFFN):
        mlp = owner.get_submodule(ffn.path)
        gate, down = mlp.get_submodule(ffn.gate), mlp.get_submodule(ffn.down)
        roles = {"input": OAT, "activation": hg(act), "up": OAT, "hidden": OAT}
        neurons = _neurons(factory, f"{path}.{ffn.path}", roles)
        if ffn.up is None:  # one fused map whose output halves are [gate, up]
            first, gating = gate, {"fused_gate": True}
        else:
            first, gating = mlp.get_submodule(ffn.up), {"w_gate": gate.weight, "b_gate": gate.bias}
        new = SpikingFFN(
            first.weight, first.bias, down.weight, down.bias, neurons, factory.T, **gating
        )
        owner.set_submodule(ffn.path, new)
        return
    first = owner.get_submodule(ffn.first)
    owner.set_submodule(
        ffn.first, spiking_linear(first, factory, f"{path}.{ffn.first}", activation=act)
    )
    owner.set_submodule(ffn.activation, nn.Identity())


def _convert_linears_and_norms(
    owner: nn.Module, path: str, factory: NeuronFactory, norm_offset: float = 0.0
) -> None:
    """Every linear layer and norm inside ``owner`` not already inside a spiking operator."""
    for name, module in list(owner.named_modules()):
        if name and not _inside_spiking_op(owner, name):
            site = f"{path}.{name}"
            if is_linear(module):
                owner.set_submodule(name, spiking_linear(module, factory, site))
            elif is_norm(module):
                owner.set_submodule(name, spiking_norm(module, factory, site, norm_offset))


def _convert_block(
    block: nn.Module,
    path: str,
    adapter: Adapter,
    act: str,
    factory: NeuronFactory,
    core_roles: dict[str, Role] | None,
    offset: SoftmaxOffset,
) -> None:
    """One block; ``core_roles``: the sites of its spiking attention core (None: the model's float
    attention stays, its module marked ``las_float_attention`` for the energy ledger)."""
    _convert_ffn(block, path, adapter.ffn, act, factory)
    attn = block.get_submodule(adapter.attention)
    if core_roles is None:
        attn.las_float_attention = True
    else:
        core_path = f"{path}.{adapter.attention}.las_core"
        attn.las_core = SpikingAttentionCore(
            _neurons(factory, core_path, core_roles), factory.T, offset
        )
    _convert_linears_and_norms(block, path, factory, adapter.norm_offset)


def _inside_spiking_op(root: nn.Module, name: str) -> bool:
    parts = name.split(".")
    return any(
        isinstance(root.get_submodule(".".join(parts[:i])), SpikingOp) for i in range(1, len(parts))
    )


def blocks(model: nn.Module, adapter: Adapter, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """``(path, block)`` of every transformer block of a single-stack model, in order.

    ``ValueError`` if no ``nn.ModuleList`` matches ``adapter.blocks``.
    """
    block_lists = [
        (n, m) for n, m in _matches(model, adapter.blocks) if isinstance(m, nn.ModuleList)
    ]
    if not block_lists:
        raise ValueError(f"{adapter.name}: found no blocks matching {adapter.blocks!r}")
    return [
        (f"{prefix}{list_path}.{i}", block)
        for list_path, modules in block_lists
        for i, block in enumerate(modules)
    ]


def _convert_stack(
    model: nn.Module,
    prefix: str,
    adapter: Adapter,
    factory: NeuronFactory,
    spike_attention: bool,
    offset: SoftmaxOffset,
) -> None:
    """The blocks and extra norms of a single-stack model; site names start with ``prefix``."""
    act = adapter.activation(model.config)
    core_roles = attention_roles(adapter.softcap(model.config), offset) if spike_attention else None
    for path, block in blocks(model, adapter, prefix):
        _convert_block(block, path, adapter, act, factory, core_roles, offset)
    for name, module in _matches(model, adapter.extra_norms) if adapter.extra_norms else ():
        if is_norm(module):
            norm = spiking_norm(module, factory, f"{prefix}{name}", adapter.norm_offset)
            model.set_submodule(name, norm)
    if spike_attention:
        model.config._attn_implementation = attention.IMPLEMENTATION


def _parts(model: nn.Module, composite: Composite) -> list[tuple[str, nn.Module]]:
    parts = _matches(model, composite.parts)
    if not parts:
        raise ValueError(f"{composite.name}: found no sub-models matching {composite.parts!r}")
    return parts


def _convert_model(
    model: nn.Module,
    prefix: str,
    factory: NeuronFactory,
    spike_attention: bool,
    offset: SoftmaxOffset,
    convert_head: bool,
) -> None:
    """Convert ``model`` (or each part of a composite, recursively), its projectors and head."""
    layout = adapter_for(model.config)
    if isinstance(layout, Composite):
        for path, part in _parts(model, layout):
            try:
                _convert_model(
                    part, f"{prefix}{path}.", factory, spike_attention, offset, convert_head
                )
            except ValueError as err:
                raise ValueError(f"{layout.name} part {prefix}{path}: {err}") from err
    else:
        _convert_stack(model, prefix, layout, factory, spike_attention, offset)
    for projector in layout.projectors:
        act = projector.hg_function(model.config)
        for path, module in _matches(model, projector.path):
            _convert_ffn(module, f"{prefix}{path}", projector.ffn, act, factory)
            _convert_linears_and_norms(module, f"{prefix}{path}", factory)
    head = getattr(model, layout.head, None) if layout.head else None
    if convert_head and isinstance(head, nn.Linear):
        model.set_submodule(layout.head, spiking_linear(head, factory, f"{prefix}{layout.head}"))


def build_spiking(
    model: PreTrainedModel,
    factory: NeuronFactory,
    *,
    spike_attention: bool = True,
    softmax_offset: SoftmaxOffset = "max",
    convert_head: bool = True,
) -> PreTrainedModel:
    """Convert ``model`` in place: every block, the extra norms, projectors and (optionally) head.

    A :class:`las.arch.Composite` (vision-language model) converts each of its sub-models with the
    adapter of the sub-model's own config, then its projectors and head; site names are full
    module paths from ``model``. Raises ``ValueError`` for an unsupported architecture (of the
    model or of a part, listing the supported ones) or a model in which no blocks are found.
    """
    _convert_model(model, "", factory, spike_attention, softmax_offset, convert_head)
    if spike_attention:
        attention.register()
        model.config._attn_implementation = attention.IMPLEMENTATION
    return model
