"""Energy tables from exact counts: per site, per layer or layer type, and in total (METHOD.md M8).

Both sides are priced on the same operations (the ledger, M8 addendum):
``E_ANN = (MACs + function_macs * functions) * E_MAC + ACs * E_AC + comparisons * E_CMP`` over
the ANN work every site replaces; ``E_SNN = (SOPs + ACs) * E_AC + (remaining MACs + function_macs
* remaining functions) * E_MAC + comparisons * E_CMP``. Energies are in picojoules;
``energy_ratio = E_SNN / E_ANN`` (inf where a site replaces no ANN work, e.g. the spiking row
max's score neuron, whose ANN row max is charged where the ANN computes it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from las.energy.config import EnergyConfig
from las.energy.counting import SiteCount

#: Additive columns: summed when sites are grouped.
COUNTS = [
    "neurons",
    "neuron_steps",
    "spikes",
    "sops",
    "ann_macs",
    "ann_acs",
    "ann_comparisons",
    "ann_functions",
    "snn_macs",
    "snn_acs",
    "snn_comparisons",
    "snn_functions",
    "e_ann_pj",
    "e_snn_pj",
]


def site_table(counts: Mapping[str, SiteCount], cfg: EnergyConfig | None = None) -> pd.DataFrame:
    """One row per site, in model order: identity, counts, firing rate, energies and their ratio.

    Raises ``ValueError`` when there is nothing to report: no sites (the model has no spiking
    operator), or sites that saw no forward pass.
    """
    cfg = cfg or EnergyConfig()
    if not counts:
        raise ValueError("no sites to report: the model has no spiking operator (convert it first)")
    table = pd.DataFrame(
        [
            {"site": site, **vars(c), "neuron_steps": c.neurons * c.steps}
            for site, c in counts.items()
        ]
    )
    if not table[[f"ann_{k}" for k in ("macs", "acs", "comparisons", "functions")]].any(axis=None):
        raise ValueError("nothing was counted: run the model's forward inside count_spikes(model)")
    table["e_ann_pj"] = _energy(table, "ann", cfg)
    table["e_snn_pj"] = _energy(table, "snn", cfg) + table["sops"] * cfg.e_ac_pj
    return _derived(table)


def _energy(table: pd.DataFrame, side: str, cfg: EnergyConfig) -> pd.Series:
    """MACs, float functions, ACs and comparisons of one side (``ann``/``snn``), in pJ."""
    macs = table[f"{side}_macs"] + cfg.function_macs * table[f"{side}_functions"]
    return (
        macs * cfg.e_mac_pj
        + table[f"{side}_acs"] * cfg.e_ac_pj
        + table[f"{side}_comparisons"] * cfg.e_cmp_pj
    )


def summarise(sites: pd.DataFrame, by: str = "layer_type") -> pd.DataFrame:
    """Sum :func:`site_table` rows per value of ``by`` (``layer_type`` or ``layer``), in order of
    appearance, plus a ``total`` row; firing rate and energy ratio recomputed from the sums."""
    grouped = sites.groupby(by, sort=False)[COUNTS].sum()
    grouped.loc["total"] = sites[COUNTS].sum()
    return _derived(grouped)


def energy_ratio(sites: pd.DataFrame) -> float:
    """``E_SNN / E_ANN`` of the whole model (M8)."""
    total = sites[["e_snn_pj", "e_ann_pj"]].sum()
    return float(total["e_snn_pj"] / total["e_ann_pj"])


def _derived(table: pd.DataFrame) -> pd.DataFrame:
    steps = table["neuron_steps"].replace(0, np.nan)
    table["firing_rate"] = (table["spikes"] / steps).fillna(0.0)
    table["energy_ratio"] = table["e_snn_pj"] / table["e_ann_pj"]
    return table
