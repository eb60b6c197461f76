"""Energy per operation (METHOD.md M8): the constants every energy figure is computed with."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from las.config import PositiveFloat, typed


@typed
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

    e_mac_pj: PositiveFloat = 4.6
    e_ac_pj: PositiveFloat = 0.9
    function_macs: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] = 1.0
