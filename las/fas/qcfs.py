"""QCFS activations (METHOD.md M9) and the FFN activation sites of a model they replace.

``a = (lam/L) clip(floor(z L/lam + 1/2), 0, L)``, ``L`` levels (8), ``lam`` trainable, the
floor passed straight through in the backward pass. Inside ``[0, lam]`` the gradients are then
``da/dz = 1`` and ``da/dlam = a/lam - z/lam``; above it ``da/dz = 0``, ``da/dlam = 1``; below
it both are 0. At inference a QCFS site becomes an IF neuron with ``theta = lam`` (M9): with a
constant current, ``T = L`` steps and ``v(0) = theta/2`` the two are the same function.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_model
from torch import Tensor, nn

from las.arch import Composite, GatedFFN, adapter_for
from las.artifacts import Identity, check_model, read_identity
from las.calibration.stats import Reservoir
from las.conversion.build import blocks

if TYPE_CHECKING:
    from transformers import PreTrainedModel

#: Smallest clip value: ``lam`` is kept positive in the forward pass.
MIN_LAM = 1e-4


class FloorSTE(torch.autograd.Function):
    """``floor`` forward, identity backward (the straight-through estimator)."""

    @staticmethod
    def forward(ctx, u: Tensor) -> Tensor:
        return torch.floor(u)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad


def qcfs(z: Tensor, lam: Tensor, levels: int) -> Tensor:
    """The QCFS activation of ``z`` (module docstring); ``lam`` broadcasts to ``z``."""
    lam = lam.clamp_min(MIN_LAM)
    return FloorSTE.apply(z * levels / lam + 0.5).clamp(0, levels) * lam / levels


class QCFS(nn.Module):
    """A QCFS activation with a trainable scalar clip ``lam`` (one per site)."""

    def __init__(self, lam: float, levels: int = 8, site: str | None = None) -> None:
        super().__init__()
        self.lam = nn.Parameter(torch.tensor(float(lam)))
        self.levels, self.site = levels, site

    def forward(self, z: Tensor) -> Tensor:
        return qcfs(z, self.lam.to(z.dtype), self.levels)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, site={self.site!r}"


@dataclass(frozen=True)
class FFNSite:
    """One FFN activation of a model and where its IF neuron goes in the converted model.

    Attributes:
        name: module path of the activation (QCFS replaces it; the key of FAS artifacts).
        neuron_site: the conversion site (:mod:`las.conversion.sites`) of the IF neuron: the
            gated FFN's ``activation`` (the gate), or the input of a plain FFN's second map.
        identity_site: a plain FFN's fused activation site, which becomes the identity (the
            IF neuron downstream is the activation); None for a gated FFN.
        gated: whether the FFN is gated (QCFS on the gate; the up projection stays float).
    """

    name: str
    neuron_site: str
    identity_site: str | None
    gated: bool


def ffn_sites(model: PreTrainedModel) -> list[FFNSite]:
    """The FFN activation sites of ``model``, block by block (``ValueError`` if unsupported)."""
    layout = adapter_for(model.config)
    if isinstance(layout, Composite):
        raise ValueError(f"FAS (M9) converts single-stack models; {layout.name} is a composite")
    ffn, sites = layout.ffn, []
    for path, _ in blocks(model, layout):
        if isinstance(ffn, GatedFFN):
            base = f"{path}.{ffn.path}"
            sites.append(FFNSite(f"{base}.{ffn.activation}", f"{base}.activation", None, True))
        elif ffn.second is None:
            raise ValueError(f"{layout.name}: the adapter declares no second FFN map for FAS")
        else:
            neuron, identity = f"{path}.{ffn.second}.input", f"{path}.{ffn.first}.activation"
            sites.append(FFNSite(f"{path}.{ffn.activation}", neuron, identity, False))
    return sites


def initial_lams(
    model: PreTrainedModel, batches: Iterable[Mapping[str, Tensor]], q: float
) -> dict[str, float]:
    """``lam`` per site: the ``q``-quantile of the positive pre-activations on ``batches``.

    QCFS clips at ``lam``, so a high quantile of what the activation sees keeps all but the
    rarest values unclipped before fine-tuning moves it. A site that never sees a positive
    value gets 1.
    """
    reservoirs = {site.name: Reservoir() for site in ffn_sites(model)}
    handles = [
        model.get_submodule(name).register_forward_pre_hook(
            lambda m, args, r=reservoir: r.update(args[0][args[0] > 0])
        )
        for name, reservoir in reservoirs.items()
    ]
    try:
        with torch.inference_mode():
            for batch in batches:
                model(**batch)
    finally:
        for handle in handles:
            handle.remove()
    return {
        name: float(torch.quantile(r.values, q)) if r.values.numel() else 1.0
        for name, r in reservoirs.items()
    }


def swap_qcfs(
    model: PreTrainedModel, lams: Mapping[str, float], levels: int = 8
) -> dict[str, QCFS]:
    """Replace every FFN activation of ``model`` by QCFS (in place); the modules by site."""
    modules = {}
    for site in ffn_sites(model):
        modules[site.name] = QCFS(lams[site.name], levels, site.name)
        model.set_submodule(site.name, modules[site.name])
    return modules


WEIGHTS = "weights.safetensors"
STAGE = "finetune_qcfs"


def save_qcfs_model(path: Path, model: PreTrainedModel, identity: Identity, levels: int) -> None:
    """The fine-tuned QCFS model's parameters (``lam`` included) with ``identity`` (atomic)."""
    tmp = path.with_suffix(".tmp")
    meta = {"levels": levels, "sites": [s.name for s in ffn_sites(model)]}
    save_model(model, str(tmp), metadata={**identity.header(), "meta": json.dumps(meta)})
    tmp.replace(path)


def load_qcfs_model(
    model: PreTrainedModel, path: Path, model_id: str | None = None, revision: str | None = None
) -> tuple[dict[str, QCFS], Identity]:
    """Turn ``model`` (the original) into the fine-tuned QCFS model of ``path`` (in place).

    The artifact's identity is checked against ``model_id``/``revision``
    (:class:`las.artifacts.ArtifactMismatchError`); every parameter must load (strict).
    """
    identity = read_identity(path, STAGE)
    check_model(identity, path, STAGE, model_id, revision)
    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads((handle.metadata() or {})["meta"])
    modules = swap_qcfs(model, dict.fromkeys(meta["sites"], 1.0), meta["levels"])
    missing, unexpected = load_model(model, str(path), strict=False)
    if unexpected or set(missing) - _tied(model):
        raise ValueError(f"{path} does not fit this model: missing {missing}, extra {unexpected}")
    return modules, identity


def _tied(model: PreTrainedModel) -> set[str]:
    """Names of parameters that share storage with an earlier one (saved once)."""
    seen, tied = set(), set()
    for name, tensor in model.state_dict(keep_vars=True).items():
        if tensor.data_ptr() in seen:
            tied.add(name)
        seen.add(tensor.data_ptr())
    return tied
