"""Per-layer energy figure: firing rate and ``E_SNN / E_ANN`` per layer (METHOD.md M8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from las.energy.report import summarise


def plot_layers(sites: pd.DataFrame, stem: Path) -> list[Path]:
    """Draw the layers of a :func:`las.energy.site_table` in model order; return the files.

    Top: firing rate (spikes per neuron per step); bottom: energy ratio per layer, with the
    model's total ratio and the ANN level (1) as lines. Written as ``<stem>.png`` and
    ``<stem>.pdf`` (rendered off screen: no display or pyplot state involved).
    """
    layers = summarise(sites, by="layer")
    total = float(layers.loc["total", "energy_ratio"])
    layers = layers.drop(index="total")
    x = np.arange(len(layers))
    fig = Figure(figsize=(max(6.0, 0.3 * len(layers) + 2.0), 5.0), layout="constrained")
    rate_ax, ratio_ax = fig.subplots(2, 1, sharex=True)
    rate_ax.bar(x, layers["firing_rate"], color="tab:blue")
    rate_ax.set_ylabel("firing rate")
    ratio_ax.bar(x, layers["energy_ratio"], color="tab:orange")
    ratio_ax.axhline(total, color="black", linestyle="--", label=f"model: {total:.3f}")
    ratio_ax.axhline(1.0, color="grey", linestyle=":", label="ANN")
    ratio_ax.set_ylabel(r"$E_{SNN} / E_{ANN}$")
    ratio_ax.set_xticks(x, list(layers.index), rotation=90, fontsize=7)
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.parent / f"{stem.name}.{ext}" for ext in ("png", "pdf")]
    for path in paths:
        fig.savefig(path, dpi=150)
    return paths
