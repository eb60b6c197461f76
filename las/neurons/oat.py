"""OAT neuron: outlier-aware threshold, two MT sub-neurons (METHOD.md M2)."""

from __future__ import annotations

import torch
from torch import Tensor

from las.modes import Mode
from las.neurons.base import ThresholdLike, as_threshold, threshold_for
from las.neurons.codes import BitSerialCode, CodeName
from las.neurons.mt import MTNeuron, Rounding


class OATNeuron(MTNeuron):
    """Outlier-aware threshold neuron (M2).

    Elements with ``|x| >= theta_nor`` (outliers) are encoded by MT(``tau = theta_out``), the
    others by MT(``tau = theta_nor``); inputs are clamped to ``[-theta_out, theta_out]`` (the MT
    cap). OAT is therefore an MT neuron whose threshold is chosen per element by the routing mask,
    which is how it is implemented: both modes, the train and the counts are MT's.

    Args:
        theta_nor: normal threshold > 0 (scalar, per-tensor or per-channel).
        theta_out: outlier threshold, ``> theta_nor`` everywhere.
        T, site, mode, code, bits, rounding: as for :class:`MTNeuron` (one code, one number of
            bits and one rounding for both sub-neurons: M12's ``B`` bits keep ``theta_nor`` and
            ``theta_out``).
    """

    def __init__(
        self,
        theta_nor: ThresholdLike,
        theta_out: ThresholdLike,
        T: int = 16,
        site: str | None = None,
        mode: Mode | str = Mode.FAST,
        code: CodeName | BitSerialCode = "binary",
        bits: int | None = None,
        rounding: Rounding = "floor",
    ) -> None:
        nor, out = as_threshold(theta_nor, "theta_nor"), as_threshold(theta_out, "theta_out")
        try:
            ordered = bool((out > nor).all())
        except RuntimeError as err:
            raise ValueError(
                f"theta_nor {tuple(nor.shape)} and theta_out {tuple(out.shape)} shapes do not "
                "broadcast together"
            ) from err
        if not ordered:
            raise ValueError(
                "theta_out must be > theta_nor everywhere (got theta_out "
                f"min {out.min().item():g}, theta_nor max {nor.max().item():g}); use MTNeuron for "
                "a single threshold"
            )
        super().__init__(nor, T, site, mode, code, bits, rounding)
        self.register_buffer("theta_out", out)

    @property
    def theta_nor(self) -> Tensor:
        """The normal threshold (the MT base threshold ``tau``)."""
        return self.tau

    def outlier_mask(self, x: Tensor) -> Tensor:
        """``M_out``: True where ``|x| >= theta_nor`` (routed to the outlier sub-neuron)."""
        return x.double().abs() >= threshold_for(self.tau, x, "theta_nor")

    def fused_thresholds(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        return (
            threshold_for(self.tau, x, "theta_nor", torch.float32),
            threshold_for(self.theta_out, x, "theta_out", torch.float32),
        )

    def threshold(self, x: Tensor, magnitude: Tensor) -> Tensor:
        nor = threshold_for(self.tau, x, "theta_nor", magnitude.dtype)
        out = threshold_for(self.theta_out, x, "theta_out", magnitude.dtype)
        return torch.where(magnitude >= nor, out, nor)
