"""Conversion of ``transformers`` models into spike-driven models (METHOD.md M2, M5)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from las.conversion.build import build_spiking
from las.conversion.config import ConversionConfig
from las.conversion.factory import CalibratedFactory, Calibration
from las.ops import set_mode

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def convert_model(
    model: PreTrainedModel,
    calibration: Calibration,
    cfg: ConversionConfig | None = None,
    inplace: bool = False,
) -> PreTrainedModel:
    """Return the spiking conversion of ``model``: still a ``PreTrainedModel``, same interface.

    Every block becomes spike-driven (OAT at every site, spike-equivalent attention, HG
    nonlinearities, spiking norms); what stays float: the embedding lookup (the input encoding,
    Gemma's ``sqrt(hidden)`` scale included), positional encodings added to it, and pooling/heads
    outside the blocks other than ``lm_head`` (converted unless ``cfg.convert_head`` is False;
    Gemma 2's final logit soft-cap after it stays float). Vision-language models (LLaVA, Qwen2-VL)
    convert both towers and the projector between them; their patch embedding on raw pixels is
    the image's input encoding and stays float (see :mod:`las.arch.families`). The original is
    left untouched unless ``inplace``; weights are shared between the converted modules and the
    model they came from.
    """
    cfg = cfg or ConversionConfig()
    target = model if inplace else copy.deepcopy(model)
    return convert_with(target, CalibratedFactory(calibration, cfg), cfg)


def convert_with(model: PreTrainedModel, factory: Any, cfg: ConversionConfig) -> PreTrainedModel:
    """Convert ``model`` in place with the neurons ``factory`` makes (LAS's or a baseline's).

    The operators, the switches of ``cfg`` that shape them (attention, softmax offset, head) and
    the mode are the same for every method; only the neurons at the sites differ.
    """
    build_spiking(
        model,
        factory,
        spike_attention=cfg.spike_attention,
        softmax_offset=cfg.softmax_offset,
        convert_head=cfg.convert_head,
    )
    set_mode(model, cfg.mode)
    model.las_conversion = cfg
    return model


__all__ = ["Calibration", "ConversionConfig", "convert_model", "convert_with"]
