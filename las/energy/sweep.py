"""Energy against fidelity over a sweep of ``ConversionConfig.threshold_scale``.

Scaling every calibrated threshold by ``s`` trades resolution for spikes: codes shrink as ``1/s``
(fewer spikes, M1) while values above ``s * theta_out`` get clipped. Each point converts the model
afresh and evaluates it on the same batches (METHOD.md M7, M8).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import pandas as pd
from transformers import PreTrainedModel

from las.conversion import Calibration, ConversionConfig, convert_model
from las.energy.config import EnergyConfig
from las.energy.counting import count_spikes
from las.energy.report import site_table, summarise
from las.fidelity import Batch, compare_causal

Compare = Callable[[PreTrainedModel, PreTrainedModel, Iterable[Batch]], dict[str, float]]


def threshold_sweep(
    model: PreTrainedModel,
    calibration: Calibration,
    batches: Iterable[Batch],
    scales: Sequence[float],
    conversion: ConversionConfig | None = None,
    energy: EnergyConfig | None = None,
    compare: Compare = compare_causal,
) -> pd.DataFrame:
    """One row per scale: ``threshold_scale``, ``energy_ratio``, ``firing_rate`` and the
    fidelity measures of ``compare`` (:func:`las.fidelity.compare_causal` or
    :func:`las.fidelity.compare_encoder`) on ``batches``.

    ``conversion`` gives every other conversion setting (its ``threshold_scale`` is replaced).
    Raises ``ValueError`` for an empty ``scales`` or a scale that is not > 0.
    """
    if not scales:
        raise ValueError("threshold_sweep needs at least one threshold scale")
    conversion = conversion or ConversionConfig()
    batches = list(batches)
    rows = []
    for scale in scales:
        snn = convert_model(model, calibration, replace(conversion, threshold_scale=scale))
        with count_spikes(snn) as counts:
            fidelity = compare(model, snn, batches)
        total = summarise(site_table(counts, energy)).loc["total"]
        rows.append(
            {
                "threshold_scale": scale,
                "energy_ratio": float(total["energy_ratio"]),
                "firing_rate": float(total["firing_rate"]),
                **fidelity,
            }
        )
    return pd.DataFrame(rows)
