"""Energy per operation (METHOD.md M8): the constants every energy figure is computed with."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class EnergyConfig:
    """Energy of one operation in picojoules, 45 nm CMOS (Horowitz, ISSCC 2014; METHOD.md M8).

    Attributes:
        e_mac_pj: a 32-bit float multiply-accumulate (``E_MAC``, 4.6 pJ).
        e_ac_pj: a 32-bit float accumulate, what one synaptic operation costs (``E_AC``, 0.9 pJ).
        function_macs: MACs charged for one evaluation of a float scalar function (exp, 1/x,
            1/sqrt, x^2, GELU, SiLU) wherever one runs: in the ANN, and in the SNN where a site
            stays float (the "without HG" ablation). 1 is the convention of counting every
            elementwise float operation as one MAC; raise it to price transcendental functions.
    """

    e_mac_pj: float = 4.6
    e_ac_pj: float = 0.9
    function_macs: float = 1.0

    def __post_init__(self) -> None:
        bounds = {"e_mac_pj": "> 0", "e_ac_pj": "> 0", "function_macs": ">= 0"}
        for name, bound in bounds.items():
            value = getattr(self, name)
            valid = value > 0 if bound == "> 0" else value >= 0
            if not (valid and math.isfinite(value)):
                raise ValueError(f"energy constant {name} must be finite and {bound}, got {value}")
