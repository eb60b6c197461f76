"""Stage ``figures``: the paper's figures from the results store (``python -m las.figures``).

Reads declared inputs only (never walks directories): the ``evaluate`` records
(``results/{experiment}/{model}/evaluate/{calibration}/{ablation}/metrics.json``), the per-site
energy tables of the full method (``.../evaluate/{calibration}/full/spikes.csv``) and the chosen
thresholds (``results/{experiment}/{model}/calibrate/{calibration}/thresholds.csv``). Writes
``<name>.png`` and ``<name>.pdf`` into ``--out`` for each figure with data:

* ``accuracy_vs_T``: fidelity against the time steps T (ablations T2, T4, T8, T12 and the full
  method, T = 16), one line per model: top-1 agreement and perplexity ratio (causal LMs),
  hidden-state relative error and minimum embedding cosine (encoders);
* ``energy_vs_threshold_scale``: ``E_SNN / E_ANN`` and the same fidelity metrics against the
  threshold scale s (ablations scale0p5, scale2, scale4 and the full method, s = 1);
* ``baselines_vs_T``: ``E_SNN / E_ANN``, top-1 agreement and perplexity ratio against T for
  LAS, FAS and naive (:func:`las.reporting.baseline_rows`), one line per model and method;
* ``frontier_<model>``: perplexity ratio and top-1 agreement against ``E_SNN / E_ANN`` of every
  point of :func:`las.reporting.frontier_table` (one line per series: code, allocation,
  baseline), with the bounds of the energy goal (:data:`las.reporting.GOAL`) dashed;
* ``firing_rates_<model>``: firing rate and energy ratio per layer (:func:`las.energy.plot_layers`);
* ``outliers_<model>``: outlier fraction and ``theta_out / theta_nor`` per site, in model order;
* ``raster_<model>``: the spike trains of one block for a few tokens in spike mode (the ``raster``
  stage's ``raster.csv``), one panel per site kind: time step against token and channel, a mark
  per spike (negative spikes in red: a negative value's code, or a signed digit of M11).

Every figure shows one calibration rule (``--calibration``, default ``mse``, the rule the ablations
use); inputs of other rules are left out with a printed note, and so is a figure without data.
Numbers are plotted as recorded, never recomputed (except the threshold ratio). Figures are
rendered off screen (``matplotlib.figure.Figure``, Agg for PNG): no display or pyplot state.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from las import reporting
from las.energy import plot_layers
from las.records import load_records, locate

#: Ablations giving fidelity against T, and those giving it against the threshold scale.
T_ABLATIONS = ("T2", "T4", "T8", "T12", "full")
SCALE_ABLATIONS = ("scale0p5", "full", "scale2", "scale4")
#: Fidelity metrics, causal LMs then encoders (a model has only its own), and the energy ratio.
FIDELITY = ("top1_agreement", "perplexity_ratio", "hidden_rel_error", "embedding_cosine_min")
ENERGY = "energy_ratio"
#: Metrics spanning orders of magnitude (log y); the others stay linear.
LOG_Y = frozenset({"perplexity_ratio", "hidden_rel_error", "theta_ratio"})
#: The ANN's value of a metric, drawn as a dotted line.
ANN_LEVEL = {
    "top1_agreement": 1.0,
    "perplexity_ratio": 1.0,
    "embedding_cosine_min": 1.0,
    ENERGY: 1.0,
}
LABELS = {
    "T": "time steps T",
    "threshold_scale": "threshold scale s",
    "top1_agreement": "top-1 agreement",
    "perplexity_ratio": "perplexity ratio (SNN / ANN)",
    "hidden_rel_error": "hidden-state rel. error",
    "embedding_cosine_min": "min. embedding cosine",
    ENERGY: r"$E_{SNN} / E_{ANN}$",
    "outlier_fraction": "outlier fraction",
    "theta_ratio": r"$\theta_{out} / \theta_{nor}$",
}


@dataclass(frozen=True)
class Panel:
    """One axes of a figure: column ``y`` against column ``x`` of the figure's rows.

    A numeric ``x`` gives one line per value of ``hue`` (log2 ``x`` when ``log_x``), ticked at
    its values (``value_ticks``) or by matplotlib; a text ``x`` gives bars in row order (sites,
    layers). ``log_y`` for metrics spanning decades. ``bounds``: an x and a y level (either
    None) drawn dashed as the goal; ``y_range``: the shown y interval (a zoom; None: all).
    """

    x: str
    y: str
    hue: str | None = "model"
    log_x: bool = False
    log_y: bool = False
    value_ticks: bool = True
    bounds: tuple[float | None, float | None] = (None, None)
    y_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class Plot:
    """One figure: its file stem, the rows it shows and its panels.

    Without panels the rows are drawn by ``drawer`` (rows, stem) -> paths: by default a
    :func:`las.energy.site_table` drawn by :func:`las.energy.plot_layers` (the per-layer figure
    of the energy package, reused as is).
    """

    name: str
    data: pd.DataFrame
    panels: tuple[Panel, ...] = ()
    drawer: Callable[[pd.DataFrame, Path], list[Path]] = plot_layers

    def draw(self, out: Path) -> list[Path]:
        """Write ``out/<name>.png`` and ``out/<name>.pdf``; return their paths."""
        if not self.panels:
            return self.drawer(self.data, out / self.name)
        return draw_panels(self.data, self.panels, out / self.name)


class PlainLogFormatter(LogFormatter):
    """Log-axis labels as plain numbers (0.25, 4, 30) on the ticks :class:`LogFormatter` labels."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"{x:g}" if super().__call__(x, pos) else ""


def draw_panels(data: pd.DataFrame, panels: Sequence[Panel], stem: Path) -> list[Path]:
    """Draw ``panels`` of ``data`` side by side; write ``<stem>.png`` and ``<stem>.pdf``."""
    bars = not pd.api.types.is_numeric_dtype(data[panels[0].x])
    width = min(40.0, max(6.0, 0.12 * len(data) + 2.0)) if bars else 3.6 * len(panels)
    shape = (len(panels), 1) if bars else (1, len(panels))
    fig = Figure(figsize=(width, 2.6 * shape[0] + (1.5 if bars else 0.6)), layout="constrained")
    for ax, panel in zip(fig.subplots(*shape, squeeze=False).ravel(), panels, strict=True):
        _draw(ax, data, panel)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.parent / f"{stem.name}.{ext}" for ext in ("png", "pdf")]
    for path in paths:
        fig.savefig(path, dpi=150)
    return paths


def _draw(ax: Axes, data: pd.DataFrame, panel: Panel) -> None:
    """One panel: lines per ``hue`` group over a numeric x, or bars over text labels.

    A ``hue`` value keeps its colour in every panel of ``data``, also where it has no points.
    """
    rows = data.dropna(subset=[panel.y])
    if pd.api.types.is_numeric_dtype(rows[panel.x]):
        hues = sorted(data[panel.hue].unique()) if panel.hue else [None]
        for colour, label in enumerate(hues):
            group = rows[rows[panel.hue] == label] if panel.hue else rows
            if not group.empty:
                group = group.sort_values(panel.x)
                ax.plot(group[panel.x], group[panel.y], "o-", color=f"C{colour}", label=label)
        if panel.log_x:
            ax.set_xscale("log", base=2)
        if panel.value_ticks:
            ticks = sorted(rows[panel.x].unique())
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.set_xticks([], minor=True)  # the log scale's minor labels would crowd the values
        elif panel.log_x:
            for axis_format in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
                axis_format(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    else:
        x = np.arange(len(rows))
        ax.bar(x, rows[panel.y], color="tab:blue")
        ax.set_xticks(x, list(rows[panel.x]), rotation=90, fontsize=5)
    if panel.y in ANN_LEVEL:
        ax.axhline(ANN_LEVEL[panel.y], color="grey", linestyle=":", label="ANN")
    x_bound, y_bound = panel.bounds
    if x_bound is not None:
        ax.axvline(x_bound, color="black", linestyle="--", linewidth=0.8, label="goal")
    if y_bound is not None:
        ax.axhline(y_bound, color="black", linestyle="--", linewidth=0.8)
    if panel.y_range is not None:
        ax.set_ylim(*panel.y_range)
        ax.set_title(f"zoom: {panel.y_range[0]:g} to {panel.y_range[1]:g}", fontsize=7)
    if panel.log_y:
        ax.set_yscale("log")
        for axis_format in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
            axis_format(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.set_xlabel(LABELS.get(panel.x, panel.x))
    ax.set_ylabel(LABELS.get(panel.y, panel.y))
    if panel.hue:
        ax.legend(fontsize=7, frameon=False)


def ablation_plot(name: str, records: pd.DataFrame, ablations: Iterable[str], x: str) -> Plot:
    """Metrics of ``records`` of ``ablations`` against field ``x``, one line per model.

    Panels: the energy ratio when the figure is against the threshold scale, then every
    :data:`FIDELITY` metric that any selected record holds. Rows: model, task, ablation, ``x``
    and the metrics, sorted by model and ``x``; empty when no record fits.
    """
    metrics = [*([ENERGY] if x == "threshold_scale" else []), *FIDELITY]
    if not {"ablation", x} <= set(records.columns):
        return Plot(name, pd.DataFrame())
    rows = records[records["ablation"].isin(list(ablations))].dropna(subset=[x])
    columns = [c for c in ("model", "task", "ablation", x, *metrics) if c in rows.columns]
    rows = rows[columns].sort_values(["model", x], kind="stable").reset_index(drop=True)
    shown = [m for m in metrics if m in rows and rows[m].notna().any()]
    if not shown:
        return Plot(name, pd.DataFrame())
    return Plot(name, rows, tuple(Panel(x, m, log_x=True, log_y=m in LOG_Y) for m in shown))


def baseline_plot(records: pd.DataFrame) -> Plot:
    """Energy ratio and causal-LM fidelity against T, one line per (model, method)."""
    rows = reporting.baseline_rows(records)
    metrics = [m for m in (ENERGY, "top1_agreement", "perplexity_ratio") if m in rows.columns]
    rows = rows.dropna(subset=[m for m in metrics if m != ENERGY] or None)
    if rows.empty or not metrics:
        return Plot("baselines_vs_T", pd.DataFrame())
    rows = rows[["model", "method", "T", *metrics]].copy()
    rows["series"] = rows["model"] + ": " + rows["method"]
    rows = rows.sort_values(["series", "T"], kind="stable").reset_index(drop=True)
    panels = tuple(Panel("T", m, hue="series", log_x=True, log_y=m in LOG_Y) for m in metrics)
    return Plot("baselines_vs_T", rows, panels)


#: The y intervals of the zoomed frontier panels (around the goal of issue 12).
FRONTIER_ZOOM = {"perplexity_ratio": (0.99, 1.06), "top1_agreement": (0.9, 1.002)}


def frontier_plots(records: pd.DataFrame) -> list[Plot]:
    """One ``frontier_<model>`` figure per causal LM with frontier points: perplexity ratio and
    top-1 agreement against ``E_SNN / E_ANN``, one line per series, the goal's bounds dashed;
    then both again zoomed on :data:`FRONTIER_ZOOM` around the goal."""
    table = reporting.frontier_table(records)
    goal = reporting.GOAL
    panels = []
    for zoomed in (False, True):
        for metric in ("perplexity_ratio", "top1_agreement"):
            zoom = FRONTIER_ZOOM[metric] if zoomed else None
            panels.append(
                Panel(
                    ENERGY,
                    metric,
                    hue="series",
                    log_x=True,
                    log_y=metric in LOG_Y and not zoomed,
                    value_ticks=False,
                    bounds=(goal[ENERGY], goal[metric]),
                    y_range=zoom,
                )
            )
    return [
        Plot(f"frontier_{model}", rows.reset_index(drop=True), tuple(panels))
        for model, rows in table.groupby("model", sort=True)
    ]


def outlier_plot(model: str, thresholds: pd.DataFrame) -> Plot:
    """Outlier fraction and ``theta_out / theta_nor`` per site of a ``thresholds.csv``."""
    rows = thresholds[["site", "theta_nor", "theta_out", "outlier_fraction"]].copy()
    rows["theta_ratio"] = (rows["theta_out"] / rows["theta_nor"]).replace([np.inf, -np.inf], np.nan)
    panels = (
        Panel("site", "outlier_fraction", hue=None),
        Panel("site", "theta_ratio", hue=None, log_y=True),
    )
    return Plot(f"outliers_{model}", rows.reset_index(drop=True), panels)


def draw_raster(events: pd.DataFrame, stem: Path) -> list[Path]:
    """One panel per site ``kind`` of ``events`` (:func:`las.neurons.record.raster_events`), in
    their order: a mark at (step, token x channels + channel) per spike, red when negative,
    tokens separated by grey lines. Writes ``<stem>.png`` and ``<stem>.pdf``."""
    kinds = list(dict.fromkeys(events["kind"]))
    channels = int(events["channel"].max()) + 1
    tokens = int(events["token"].max()) + 1
    columns = min(6, len(kinds))
    rows = -(-len(kinds) // columns)
    fig = Figure(figsize=(2.2 * columns, 2.0 * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, kind in zip(axes, kinds, strict=False):
        spikes = events[events["kind"] == kind]
        y = spikes["token"] * channels + spikes["channel"]
        colour = np.where(spikes["sign"] < 0, "tab:red", "black")
        ax.scatter(spikes["step"], y, s=2, marker="s", c=colour, linewidths=0)
        for t in range(1, tokens):
            ax.axhline(t * channels - 0.5, color="grey", linewidth=0.4)
        ax.set_title(kind, fontsize=6)
        ax.set_ylim(tokens * channels - 0.5, -0.5)
        ax.tick_params(labelsize=5)
    for ax in axes[len(kinds) :]:
        ax.set_axis_off()
    fig.supxlabel("time step", fontsize=7)
    fig.supylabel(f"token x {channels} channels", fontsize=7)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.parent / f"{stem.name}.{ext}" for ext in ("png", "pdf")]
    for path in paths:
        fig.savefig(path, dpi=150)
    return paths


def plots(
    evaluate: Iterable[Path],
    spikes: Iterable[Path],
    thresholds: Iterable[Path],
    calibration: str = "mse",
    rasters: Iterable[Path] = (),
) -> list[Plot]:
    """Every figure of the stage, from the inputs of rule ``calibration`` (see the module doc).

    Figures without data are kept with empty rows; :func:`write_figures` skips them.
    """
    every = load_records(list(evaluate), "evaluate")
    records = every[reporting.uniform_bits(every)]  # allocations: on the frontier only
    if "calibration" in records.columns:
        records = records[records["calibration"] == calibration]
    figures = [
        ablation_plot("accuracy_vs_T", records, T_ABLATIONS, "T"),
        ablation_plot("energy_vs_threshold_scale", records, SCALE_ABLATIONS, "threshold_scale"),
        baseline_plot(every),
        *frontier_plots(every),
    ]
    figures += [Plot(f"firing_rates_{m}", t) for m, t in tables(spikes, "evaluate", calibration)]
    figures += [outlier_plot(m, t) for m, t in tables(thresholds, "calibrate", calibration)]
    rastered = tables(rasters, "raster", calibration)
    figures += [Plot(f"raster_{m}", t, drawer=draw_raster) for m, t in rastered]
    return figures


def tables(
    paths: Iterable[Path], stage: str, calibration: str
) -> Iterator[tuple[str, pd.DataFrame]]:
    """``(model, table)`` of each CSV of ``stage`` at ``paths`` made with rule ``calibration``."""
    for path in paths:
        model, rule = locate(path, stage)
        if rule == calibration:
            yield model, pd.read_csv(path)
        else:
            print(f"figures: {path} left out (calibration {rule!r}; figures show {calibration!r})")


def write_figures(figures: Iterable[Plot], out: Path, jobs: int = 1) -> list[Path]:
    """Draw every figure with data into ``out``, ``jobs`` at a time (processes); print a note
    for each one skipped. Returns the written paths in the order of ``figures``."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    figures = list(figures)
    names = [f.name for f in figures]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"several inputs give figures {duplicates}: pass one file per model")
    for figure in figures:
        if figure.data.empty:
            print(f"figures: {figure.name} skipped (no data)")
    drawn = [figure for figure in figures if not figure.data.empty]
    if jobs == 1 or len(drawn) < 2:
        return [path for figure in drawn for path in figure.draw(out)]
    with ProcessPoolExecutor(min(jobs, len(drawn))) as pool:
        return [path for paths in pool.map(Plot.draw, drawn, [out] * len(drawn)) for path in paths]


def main(argv: list[str] | None = None) -> list[Path]:
    """Parse the command line, write the figures, print and return their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (reports/)")
    parser.add_argument(
        "--calibration", default="mse", help="the calibration rule the figures show (mse)"
    )
    parser.add_argument("--evaluate", nargs="*", type=Path, default=[], help="metrics.json files")
    parser.add_argument("--spikes", nargs="*", type=Path, default=[], help="spikes.csv files")
    parser.add_argument(
        "--thresholds", nargs="*", type=Path, default=[], help="thresholds.csv files"
    )
    parser.add_argument(
        "--rasters", nargs="*", type=Path, default=[], help="raster.csv files (raster stage)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="figures drawn at a time (processes)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, not {args.jobs}")
    figures = plots(args.evaluate, args.spikes, args.thresholds, args.calibration, args.rasters)
    paths = write_figures(figures, args.out, args.jobs)
    print("\n".join(str(p) for p in paths))
    return paths


if __name__ == "__main__":
    main()
