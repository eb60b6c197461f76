"""Energy per operation (METHOD.md M8): the constants every energy figure is computed with."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from las.config import PositiveFloat, typed


@typed
class EnergyConfig:
    """Energy of one operation in picojoules, 45 nm CMOS (Horowitz, "Computing's energy problem",
    ISSCC 2014, Fig. 1.1.9: 32-bit float add 0.9 pJ, multiply 3.7 pJ; METHOD.md M8).

    Attributes:
        e_mac_pj: a 32-bit float multiply-accumulate (``E_MAC``, 4.6 pJ: a multiply and an add).
        e_ac_pj: a 32-bit float accumulate (``E_AC``, 0.9 pJ): one synaptic operation, and any
            other sum or difference (a row sum, ``x - mean(x)``, a residual add), both sides.
        e_cmp_pj: a comparison (gates, OAT routing, row maxima; M8 addendum), priced as the
            32-bit float add that computes its sign (0.9 pJ: Horowitz lists no comparator, so
            no cheaper figure is claimed; the spiking max compares 1-bit spikes).
        function_macs: MACs charged for one evaluation of a float scalar function (exp, 1/x,
            1/sqrt, x^2, GELU, SiLU) wherever one runs: in the ANN, and in the SNN where a site
            stays float (the "without HG" ablation). 1 is the convention of counting every
            elementwise float operation as one MAC; raise it to price transcendental functions.
    """

    e_mac_pj: PositiveFloat = 4.6
    e_ac_pj: PositiveFloat = 0.9
    e_cmp_pj: PositiveFloat = 0.9
    function_macs: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] = 1.0
