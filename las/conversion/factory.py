"""Calibrated neurons for every site of a converted model (METHOD.md M2, M4, M7)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import Tensor, nn

from las.conversion.config import ConversionConfig
from las.conversion.sites import Kind, Role
from las.fitting import target_function
from las.neurons import HGNeuron, MTNeuron, OATNeuron
from las.neurons.codes import code_named


@dataclass
class Calibration:
    """Calibrated thresholds per site, the fitted HG neuron per function, the bits per site.

    ``thresholds`` maps site -> ``(theta_nor, theta_out)``; ``hg`` maps function name -> neuron;
    ``bits`` maps an OAT site to its number of bits ``T_j <= T`` (METHOD.md M12, the output of
    :func:`las.calibration.allocation.allocate_bits`); sites absent keep ``T``.
    """

    thresholds: Mapping[str, tuple[float, float]]
    hg: Mapping[str, HGNeuron]
    meta: dict = field(default_factory=dict)
    bits: Mapping[str, int] = field(default_factory=dict)


class FloatNonlinearity(nn.Module):
    """The exact float function at an HG site: the "without HG" ablation (not spiking)."""

    def __init__(self, fn: str) -> None:
        super().__init__()
        self.name, self.fn = fn, target_function(fn).fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


class FloatSite(nn.Identity):
    """A site left float by a baseline (FAS, M9): the value passes unchanged, so the operator it
    feeds keeps its MACs (:mod:`las.energy` counts a site without a neuron as float work)."""


class CalibratedFactory:
    """A :class:`las.conversion.sites.NeuronFactory` placing calibrated neurons.

    Every MT/OAT neuron spells its code in ``cfg.code`` (M1 or M11), so the model runs the
    trains' length: ``T`` steps, or ``T + 1`` for the signed-digit code. An OAT site with
    allocated bits (``calibration.bits``, M12) codes ``T_j`` bits in that same train.
    """

    def __init__(self, calibration: Calibration, cfg: ConversionConfig) -> None:
        self.calibration, self.cfg = calibration, cfg
        self.T = code_named(cfg.code).steps(cfg.T)

    def __call__(self, site: str, role: Role) -> nn.Module:
        cfg = self.cfg
        if role.kind is Kind.PROBABILITY:
            return MTNeuron(1.0, cfg.T, site=site, mode=cfg.mode, code=cfg.code)
        if role.kind is Kind.HG:
            if not cfg.hg:
                return FloatNonlinearity(role.fn)
            bank = self.calibration.hg
            if role.fn not in bank:
                raise ValueError(
                    f"no fitted HG neuron for {role.fn!r} (site {site}); the bank has "
                    f"{sorted(bank)}: rerun fit_hg on this model's statistics"
                )
            return bank[role.fn].placed(site, cfg.mode)
        if site not in self.calibration.thresholds:
            raise ValueError(
                f"no calibrated thresholds for site {site}: the calibration was made for another "
                "model or conversion config; rerun collect and calibrate for this one"
            )
        nor, out = (v * cfg.threshold_scale for v in self.calibration.thresholds[site])
        bits = self.calibration.bits.get(site, cfg.T)
        if bits > cfg.T:
            raise ValueError(
                f"site {site} is allocated {bits} bits but the conversion has T = {cfg.T}: the "
                "allocation was made for a larger T; rerun the allocation for this one"
            )
        if cfg.oat and role.kind is Kind.OAT:
            return OATNeuron(nor, out, cfg.T, site, cfg.mode, cfg.code, bits, rounding=cfg.rounding)
        if role.kind is Kind.SCORE:
            # MT at theta_out, one threshold per site for the row max, and always the binary
            # code: M13 compares MSB-first bits (a signed digit could not eliminate a candidate);
            # its spikes reach only the comparator (steps 1..T of a T + 1-step NAF model)
            return MTNeuron(out, cfg.T, site=site, mode=cfg.mode, bits=bits)
        return MTNeuron(out, cfg.T, site=site, mode=cfg.mode, code=cfg.code, bits=bits)
