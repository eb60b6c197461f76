"""Input ranges of the HG neurons from collected statistics (METHOD.md M4, M7)."""

from __future__ import annotations

from collections.abc import Mapping

from las.calibration.stats import SiteStats
from las.conversion.sites import Kind, Role
from las.fitting import target_function
from las.hg_bank import HGSpec

#: exp inputs below this are clamped: e^-64 is far below float32 resolution next to e^0 = 1.
EXP_FLOOR = -64.0
#: Smallest |x| an even function (x^2) resolves, relative to the site's abs-max.
EVEN_DYNAMIC_RANGE = 2.0**-24


def hg_ranges(
    stats: Mapping[str, SiteStats], roles: Mapping[str, Role], margin: float = 0.05
) -> dict[str, HGSpec]:
    """One range per HG function: the union of its sites' observed ranges, widened by ``margin``.

    Uniform-partition functions get ``[min, max]`` widened by ``margin`` of the span; octave
    functions (inputs > 0) ``[min / (1 + margin), max * (1 + margin)]``; even functions the range
    of ``|x|`` down to ``EVEN_DYNAMIC_RANGE`` of its maximum. Raises ``ValueError`` if an HG site
    saw no values.
    """
    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    for site, role in roles.items():
        if role.kind is not Kind.HG:
            continue
        s = stats[site]
        if not s.count:
            raise ValueError(f"HG site {site} saw no calibration values: use more calibration data")
        target = target_function(role.fn)
        if target.symmetry == "even":
            low, high = s.absmax * EVEN_DYNAMIC_RANGE, s.absmax
        else:
            low, high = s.minimum, s.maximum
        lows[role.fn] = min(lows.get(role.fn, low), low)
        highs[role.fn] = max(highs.get(role.fn, high), high)
    specs = {}
    for fn in lows:
        target = target_function(fn)
        low, high = lows[fn], highs[fn]
        if target.partition == "octave":
            low, high = max(low, 2.0**-40) / (1 + margin), max(high, 2.0**-39) * (1 + margin)
        else:
            pad = margin * max(high - low, 1e-3)
            low, high = low - pad, high + pad
        if fn == "exp":
            low = max(low, EXP_FLOOR)
        specs[fn] = HGSpec(low=float(low), high=float(high))
    return specs
