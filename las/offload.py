"""Converted models under accelerate's offload: device maps with CPU and disk offload.

A converted model is an ordinary ``PreTrainedModel`` whose spiking operators hold the original
weight tensors, so accelerate places it like any model once it is converted: convert first, then
:func:`dispatch` (``infer_auto_device_map`` under ``max_memory``, then ``dispatch_model``, whose
hooks load an offloaded block's weights right before it runs). Converting after dispatching
does not work: the converted modules would replace the ones accelerate attached its hooks to.
Blocks and spiking operators are never split across devices.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from accelerate import dispatch_model, infer_auto_device_map

from las.ops import SpikingOp

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def no_split_classes(model: PreTrainedModel) -> list[str]:
    """The module classes of ``model`` kept whole on one device: its blocks and every spiking
    operator (an operator's neurons run with its weights)."""
    spiking = {type(m).__name__ for m in model.modules() if isinstance(m, SpikingOp)}
    return sorted(set(model._no_split_modules or ()) | spiking)


def dispatch(
    model: PreTrainedModel,
    max_memory: Mapping[int | str, int | str] | None = None,
    offload_folder: str | Path | None = None,
    device_map: str | Mapping[str, int | str] = "auto",
) -> PreTrainedModel:
    """Place ``model`` (converted or not) over devices with accelerate; return it.

    ``device_map``: ``"auto"`` (inferred under ``max_memory``: device index or ``"cpu"`` ->
    bytes or ``"10GiB"``; None: what the machine has) or an explicit map; modules mapped to
    ``"disk"`` are written to ``offload_folder`` and read back when they run. ``ValueError``
    if the map offloads to disk without an ``offload_folder`` or puts the whole model there.
    """
    if device_map == "auto":
        device_map = infer_auto_device_map(
            model,
            max_memory=dict(max_memory) if max_memory else None,
            no_split_module_classes=no_split_classes(model),
        )
    if dict(device_map) == {"": "disk"}:
        raise ValueError(
            f"max_memory={dict(max_memory or {})} leaves no device room for the model's first "
            "module plus its largest block (accelerate keeps that much free): raise max_memory"
        )
    if "disk" in device_map.values() and offload_folder is None:
        raise ValueError(
            "the device map offloads modules to disk but no offload_folder is given: "
            "set offload_folder=... or raise max_memory"
        )
    return dispatch_model(
        model, dict(device_map), offload_dir=str(offload_folder) if offload_folder else None
    )
