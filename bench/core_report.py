"""The report of ``bench_core``: the goals and the Markdown tables.

Every function reads the result dict that ``bench_core.run`` builds (keys ``linear``, ``oat``,
``hg``, ``breakdown``, ``memory``, ``data``, ``goals``, ``meta``) and returns plain values or
Markdown text; none measures anything.
"""

from __future__ import annotations

from typing import Any

from core_data import Config

#: OAT table rows: result key -> (label, memory case).
OAT_ROWS = {
    "ours_fast": ("ours OAT fast `oat(X)`", "oat_fast"),
    "ours_spikes": ("ours OAT train `oat.spikes(X)`", "oat_spikes"),
    "peer_value": ("spikingjelly OAT node, step_mode s", "peer_oat"),
    "peer_train": ("spikingjelly OAT node, step_mode m", "peer_oat_train"),
}
#: OAT table columns between "median ms" and the memory column.
OAT_COLUMNS = (
    "ratio_vs_ours_fast",
    "max_err_units",
    "max_err_normal_units",
    "max_err_outlier_units",
    "max_diff_vs_exact_units",
    "n_code_vs_exact",
)

# ---------------------------------------------------------------------------------- cells


def fmt(value: Any, spec: str = ".3g") -> str:
    """Format a number (or pass a string through) for a table cell; ``None`` is ``n/a``."""
    if value is None:
        return "n/a"
    return format(value, spec) if isinstance(value, int | float) else str(value)


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; cells go through :func:`fmt`."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def memory_trains(memory: dict[str, Any], case: str) -> str:
    """Peak extra memory of ``case`` in trains, or the reason it is missing."""
    if case not in memory:
        return "not run"
    report = memory[case]
    return fmt(report["trains"]) if "trains" in report else f"n/a ({report.get('error', '-')})"


# ---------------------------------------------------------------------------------- goals


def goals(cfg: Config, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals of the brief: rows ``goal``, ``value``, ``met`` (``None``: not measured)."""
    linear, memory = result["linear"], result["memory"]
    measured = [
        ("fast / float <= 1.5", linear["fast"]["ratio"], 1.5),
        (f"spike / float <= T = {cfg.T}", linear["spike"]["ratio"], float(cfg.T)),
        ("spike-mode peak extra memory <= 2 trains", memory.get("spike", {}).get("trains"), 2.0),
    ]
    return [
        {"goal": goal, "value": value, "met": None if value is None else bool(value <= limit)}
        for goal, value, limit in measured
    ]


def render_goals(result: dict[str, Any]) -> str:
    """The goals table."""
    rows = [
        [g["goal"], g["value"], {True: "met", False: "MISSED", None: "n/a"}[g["met"]]]
        for g in result["goals"]
    ]
    return "### Goals\n\n" + table(["goal", "measured", "status"], rows)


# --------------------------------------------------------------------------------- tables


def render_linear(cfg: Config, result: dict[str, Any]) -> str:
    """The linear-layer table."""
    lin, mem = result["linear"], result["memory"]
    rows = [
        ["float F.linear", lin["float"]["median_s"] * 1e3, 1.0, "-", memory_trains(mem, "float")]
    ]
    for mode in ("fast", "spike"):
        s = lin[mode]
        cells = [s["median_s"] * 1e3, s["ratio"], s["rel_err_vs_float"], memory_trains(mem, mode)]
        rows.append([f"SpikingLinear {mode}", *cells])
    head = ["op", "median ms", "x float", "rel. err vs float", "peak extra mem (trains)"]
    title = f"### Linear {cfg.n}x{cfg.n} @ {cfg.n}x{cfg.n}, T={cfg.T}"
    note = f"fast vs spike max |diff| / max|y|: {fmt(lin['fast_vs_spike_max_abs_rel'])}"
    return f"{title}\n\n{table(head, rows)}\n\n{note}"


def oat_note(data: dict[str, Any], peer_note: str | None) -> str:
    """The note under the OAT table: units, thresholds, what 'exact' means, the peer's state."""
    note = (
        f"Errors in units of theta_nor/2^T = {fmt(data['unit'])} (theta_nor "
        f"{fmt(data['theta_nor'])}, theta_out {fmt(data['theta_out'])}; outlier resolution "
        f"= {fmt(data['theta_out'] / data['theta_nor'])} units; "
        f"{fmt(100 * data['outlier_fraction'])}% of elements are outliers). 'exact M2': M1/M2 "
        "recomputed here in float64 (floor of the exact quotient); '# codes != exact' counts "
        "elements whose output differs from it by > 0.5 unit, i.e. a different T-bit code. "
        f"{data['boundary_count']} element(s) have |x| == theta_nor exactly: spikingjelly routes "
        "them to the normal MT (`|x| <= split`), M2 to the outlier MT (`|x| >= theta_nor`)."
    )
    return note + (f" Peer: {peer_note}." if peer_note else "")


def render_oat(cfg: Config, result: dict[str, Any]) -> str:
    """The OAT-neuron table (ours and the peer)."""
    oat, mem = result["oat"], result["memory"]
    rows = []
    for key, (label, mem_case) in OAT_ROWS.items():
        if key not in oat:
            rows.append([label, *["n/a"] * (len(OAT_COLUMNS) + 2)])
            continue
        s = oat[key]
        cells = [s["median_s"] * 1e3, *(s[c] for c in OAT_COLUMNS), memory_trains(mem, mem_case)]
        rows.append([label, *cells])
    head = ["neuron", "median ms", "x ours fast", "max err", "normal", "outlier"]
    head += ["max diff vs exact M2", "# codes != exact", "peak extra mem (trains)"]
    title = f"### OAT neuron alone on X ({cfg.n}x{cfg.n}, T={cfg.T})"
    return f"{title}\n\n{table(head, rows)}\n\n{oat_note(result['data'], oat.get('peer_note'))}"


def hg_row(r: dict[str, Any]) -> list[Any]:
    """One HG-table row: the fit, our errors and times, and the peer's (or its note, thrice)."""
    ours, peer = r["ours"], r.get("peer", {"note": "n/a"})
    peer_cells = (
        [peer["max_abs"], peer["max_rel"], peer["ms_per_M"]]
        if "max_abs" in peer
        else [peer.get("note", "n/a")] * 3
    )
    fit = [r["function"], f"[{fmt(r['low'])}, {fmt(r['high'])}]", r["segments"], r["error"][:3]]
    fit += [r["fit_max_abs"], r["fit_max_rel"]]
    ours_cells = [ours[k] for k in ("max_abs", "max_rel", "fast_ms_per_M", "spike_ms_per_M")]
    return [*fit, *ours_cells, *peer_cells]


def render_hg(cfg: Config, result: dict[str, Any]) -> str:
    """The HG-function table (ours vs the peer's HGNode with our tables)."""
    rows = [hg_row(r) for r in result["hg"]["rows"]]
    head = ["f", "range", "segs", "fitted", "fit abs", "fit rel", "ours abs", "ours rel"]
    head += ["ours fast ms/M", "ours spike ms/M", "sj abs", "sj rel", "sj ms/M"]
    note = (
        f"Grid: {cfg.grid_points} float32 points; errors vs the exact function in float64; "
        "'fit' = fit_hg's own report (float64 grid + edges). sj = spikingjelly HGNode built from "
        "our fitted segments (it ships no fitted functions), K+1 steps. 'fitted': the error kind "
        "fit_hg minimises; relative errors of 'abs' functions (GELU, SiLU) are large near their "
        "zero and not a target."
    )
    if result["hg"].get("peer_note"):
        note += f" Peer: {result['hg']['peer_note']}."
    return f"### HG neurons (K=16)\n\n{table(head, rows)}\n\n{note}"


def render_breakdown(result: dict[str, Any]) -> str:
    """Where the time goes, piece by piece."""
    rows = [[f"fast: {k}", v * 1e3] for k, v in result["breakdown"]["fast"].items()]
    rows += [[f"spike: {k}", v * 1e3] for k, v in result["breakdown"]["spike"].items()]
    text = "### Time breakdown (median ms per piece)\n\n" + table(["piece", "ms"], rows)
    memory = result["memory"]
    if "spike_accumulate" in memory:
        text += (
            "\n\nPeak extra memory of one `SpikeSim.accumulate` (sum over T with "
            f"dtype=float64) of a train: {memory_trains(memory, 'spike_accumulate')} trains."
        )
    return text


# --------------------------------------------------------------------------------- report


def render_header(meta: dict[str, Any]) -> str:
    """The report's first line (mode, torch, threads, load, wall time) and a busy warning."""
    head = (
        f"## bench_core ({'quick' if meta['quick'] else 'full'}): torch {meta['torch']}, "
        f"{meta['threads']} threads, load avg {meta['load_before']} -> {meta['load_after']}, "
        f"wall {meta['wall_s']:.0f} s"
    )
    if meta["load_before"][0] > 0.5:
        head += (
            "\n\n**Warning:** the machine was busy before the run (1-min load "
            f"{meta['load_before'][0]}); timings are inflated and noisy, ratios less so."
        )
    return head


def render(cfg: Config, result: dict[str, Any]) -> str:
    """The full Markdown report."""
    parts = [render_header(result["meta"]), render_goals(result), render_linear(cfg, result)]
    parts += [render_oat(cfg, result), render_hg(cfg, result), render_breakdown(result)]
    return "\n\n".join(parts) + "\n"
