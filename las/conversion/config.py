"""The one config object of a conversion, ablation switches included (no separate code paths)."""

from __future__ import annotations

from dataclasses import dataclass

from las.modes import Mode
from las.neurons.base import check_steps
from las.ops.functional import SoftmaxOffset


@dataclass(frozen=True)
class ConversionConfig:
    """How a model is converted.

    Attributes:
        T: time steps of every MT/OAT neuron.
        mode: ``fast`` (closed forms, what evaluation uses) or ``spike`` (per-step simulation).
        oat: OAT neurons (True) or a single-threshold MT at ``theta_out`` (ablation "without OAT").
        hg: HG neurons (True) or the float nonlinearity (ablation "without HG").
        spike_attention: spike-equivalent attention (True) or the model's float attention.
        threshold_scale: factor on every calibrated threshold (energy/accuracy sweep).
        softmax_offset: ``max`` (row max) or ``first`` (first score, the "data offset").
        convert_head: also put an OAT neuron before the output head (``lm_head``).
    """

    T: int = 16
    mode: Mode = Mode.FAST
    oat: bool = True
    hg: bool = True
    spike_attention: bool = True
    threshold_scale: float = 1.0
    softmax_offset: SoftmaxOffset = "max"
    convert_head: bool = True

    def __post_init__(self) -> None:
        check_steps(self.T)
        object.__setattr__(self, "mode", Mode.parse(self.mode))
        if not self.threshold_scale > 0:
            raise ValueError(f"threshold_scale must be > 0, got {self.threshold_scale}")
        if self.softmax_offset not in ("max", "first"):
            raise ValueError(
                f"softmax_offset must be 'max' or 'first', got {self.softmax_offset!r}"
            )
