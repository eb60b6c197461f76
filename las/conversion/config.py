"""The one config object of a conversion, ablation switches included (no separate code paths)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from las.config import Bool, PositiveFloat, typed
from las.modes import Mode, ModeField
from las.neurons.base import MAX_T
from las.neurons.codes import CodeName
from las.neurons.mt import Rounding
from las.ops.functional import SoftmaxOffset

Steps = Annotated[int, Field(strict=True, ge=1, le=MAX_T)]


@typed
class ConversionConfig:
    """How a model is converted (every field checked when built; unknown keys refused).

    Attributes:
        T: bits of every MT/OAT code, an integer in ``[1, MAX_T]`` (METHOD.md M1): the time
            steps of the model (``T + 1`` with ``code = naf``).
        mode: ``fast`` (closed forms, what evaluation uses) or ``spike`` (per-step simulation).
        code: how MT/OAT neurons spell their codes: ``binary`` (M1) or ``naf``, the signed-digit
            non-adjacent form (M11: the same values bit for bit, fewer spikes, one extra step
            of weight ``tau`` before step 1). LAS's neurons only; the baselines ignore it.
        oat: OAT neurons (True) or a single-threshold MT at ``theta_out`` (ablation "without OAT").
        hg: HG neurons (True) or the float nonlinearity (ablation "without HG").
        spike_attention: spike-equivalent attention (True) or the model's float attention.
        threshold_scale: factor (> 0) on every calibrated threshold (energy/accuracy sweep).
        softmax_offset: ``max`` (the row max, found spike-driven on MT-encoded scores, M13) or
            ``first`` (first score, the "data offset").
        convert_head: also put an OAT neuron before the output head (``lm_head``).
        rounding: how OAT neurons round their codes: ``floor`` (M1, truncation) or ``nearest``
            (an initial potential of half the smallest spike, :class:`las.neurons.MTNeuron`:
            the same thresholds and trains, the code's error centred on 0). Attention
            probabilities and scores (plain MT) keep ``floor``.
    """

    T: Steps = 16
    mode: ModeField = Mode.FAST
    code: CodeName = "binary"
    oat: Bool = True
    hg: Bool = True
    spike_attention: Bool = True
    threshold_scale: PositiveFloat = 1.0
    softmax_offset: SoftmaxOffset = "max"
    convert_head: Bool = True
    rounding: Rounding = "floor"
