"""Data-driven calibration: statistics, thresholds and HG ranges (METHOD.md M7)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import pandas as pd
import torch
from tqdm.auto import tqdm

from las.calibration.observe import ObserverFactory
from las.calibration.ranges import hg_ranges
from las.calibration.rules import RuleConfig, ThresholdChoice, choose_thresholds
from las.conversion.build import build_spiking
from las.conversion.config import ConversionConfig
from las.conversion.factory import Calibration
from las.conversion.sites import THRESHOLD_KINDS
from las.hg_bank import fit_bank

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def collect_statistics(
    model: PreTrainedModel,
    batches: Iterable[Mapping[str, torch.Tensor]],
    cfg: ConversionConfig | None = None,
    per_channel: bool = False,
    inplace: bool = False,
) -> ObserverFactory:
    """Run ``model`` with observers at every site of ``cfg``'s conversion on ``batches``.

    Each batch is a dict of model inputs (``input_ids``, ``attention_mask``, ...). Returns the
    observer factory holding per-site statistics, roles and per-function input samples. Memory
    does not grow with the number of batches: statistics stream, no activation is stored, and
    under ``inference_mode`` only the layer being computed holds activations. ``inplace``
    instruments ``model`` itself instead of a copy (no second set of weights: what the ``collect``
    stage does for large models; the model is then an observer model).
    """
    cfg = cfg or ConversionConfig()
    observers = ObserverFactory(per_channel=per_channel)
    observed = build_spiking(
        model if inplace else copy.deepcopy(model),
        observers,
        spike_attention=cfg.spike_attention,
        softmax_offset=cfg.softmax_offset,
        convert_head=cfg.convert_head,
    )
    observed.eval()
    with torch.inference_mode():
        for batch in tqdm(batches, desc="collect", unit="batch"):
            observed(**batch)
    return observers


def calibrate_thresholds(
    observers: ObserverFactory, rule: RuleConfig, T: int
) -> dict[str, ThresholdChoice]:
    """Thresholds for every OAT and score site observed by ``observers`` (HG/probability sites
    skipped; a score site's MT neuron takes ``theta_out``)."""
    return {
        site: choose_thresholds(observers.stats[site], rule, T)
        for site, role in observers.roles.items()
        if role.kind in THRESHOLD_KINDS
    }


def calibrate_model(
    model: PreTrainedModel,
    batches: Iterable[Mapping[str, torch.Tensor]],
    cfg: ConversionConfig | None = None,
    rule: RuleConfig | None = None,
    K: int = 16,
) -> tuple[Calibration, pd.DataFrame]:
    """Collect, choose thresholds and fit HG neurons in one call (in memory, no artifacts).

    Returns the :class:`las.Calibration` for :func:`las.convert` and the HG error table.
    """
    cfg = cfg or ConversionConfig()
    observers = collect_statistics(model, batches, cfg)
    choices = calibrate_thresholds(observers, rule or RuleConfig(), cfg.T)
    bank, table = fit_bank(hg_ranges(observers.stats, observers.roles), K=K)
    thresholds = {site: (c.theta_nor, c.theta_out) for site, c in choices.items()}
    return Calibration(thresholds, bank), table


__all__ = [
    "RuleConfig",
    "ThresholdChoice",
    "calibrate_model",
    "calibrate_thresholds",
    "collect_statistics",
]
