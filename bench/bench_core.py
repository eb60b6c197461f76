"""Core benchmark: OAT + linear in fast and spike mode, HG neurons, and the spikingjelly peer.

Run ``python bench/bench_core.py`` (full, a few minutes on 2 cores) or ``--quick`` (seconds). It
prints Markdown tables and writes ``bench/out/core.json`` (``core_quick.json`` with ``--quick``).
See ``bench/README.md`` for what is measured and the goals.

Everything runs on the same tensors: one activation ``X`` (standard normal with a few outlier
columns scaled x20) and one weight ``W``, made from a fixed seed. Peak memory is measured in a
fresh subprocess per case (the same script with ``--memory-case``), from the kernel's peak-RSS
counter reset right before the call.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from las.fitting import fit_hg, target_function
from las.neurons import HGNeuron, OATNeuron
from las.neurons.base import check_finite
from las.ops import SpikeSim, SpikingLinear, set_mode

OUT_DIR = Path(__file__).resolve().parent / "out"
SEED = 0
PEER = "spikingjelly"
PEER_VERSION = "2.0.0"
#: Functions METHOD.md M4 needs, fitted on the registry's default ranges (as ``fit_hg`` uses).
HG_FUNCTIONS = ("exp", "gelu", "silu", "reciprocal", "rsqrt", "square")
MEMORY_CASES = (
    "float",
    "fast",
    "spike",
    "spike_accumulate",
    "oat_fast",
    "oat_spikes",
    "peer_oat",
    "peer_oat_train",
)


@dataclass(frozen=True)
class Config:
    """Sizes and repeat counts of one run."""

    n: int = 2048
    T: int = 16
    outlier_cols: int = 8
    repeats: int = 7
    slow_repeats: int = 3
    grid_points: int = 1 << 20
    hg_functions: tuple[str, ...] = HG_FUNCTIONS
    hg_tolerance: float | None = None
    memory_cases: tuple[str, ...] = MEMORY_CASES

    @property
    def train_bytes(self) -> int:
        """Bytes of one float32 T-step train of ``X``: the memory unit of the report."""
        return self.T * self.n * self.n * 4


FULL = Config()
QUICK = Config(
    n=256,
    outlier_cols=1,
    repeats=3,
    slow_repeats=2,
    grid_points=1 << 14,
    hg_functions=("exp", "gelu"),
    hg_tolerance=1e-3,
    memory_cases=("spike",),
)


@dataclass
class Case:
    """A timed callable: ``repeats`` timed calls; ``digest`` keeps a summary of one result."""

    fn: Callable[[], Any]
    repeats: int
    digest: Callable[[Any], Any] | None = None


@dataclass
class Data:
    """The shared tensors and the thresholds calibrated from ``X``."""

    X: Tensor
    W: Tensor
    theta_nor: float
    theta_out: float
    T: int
    outlier_fraction: float = field(default=0.0)
    boundary_count: int = field(default=0)

    @property
    def unit(self) -> float:
        """The normal resolution ``theta_nor / 2**T``: the unit of the OAT errors."""
        return self.theta_nor / 2.0**self.T


# ----------------------------------------------------------------------------------- data


def make_data(cfg: Config) -> Data:
    """``X`` (normal, ``outlier_cols`` columns x20), ``W`` (normal / sqrt(n)) and thresholds.

    ``theta_out = absmax * 1.01``; ``theta_nor`` = 0.99 quantile of ``|X|`` on a subsample of at
    most 2**20 elements (``torch.quantile`` limits its input size).
    """
    gen = torch.Generator().manual_seed(SEED)
    X = torch.randn(cfg.n, cfg.n, generator=gen)
    cols = torch.randperm(cfg.n, generator=gen)[: cfg.outlier_cols]
    X[:, cols] *= 20.0
    W = torch.randn(cfg.n, cfg.n, generator=gen) / math.sqrt(cfg.n)
    magnitude = X.abs().flatten()
    size = (min(magnitude.numel(), 1 << 20),)
    sample = magnitude[torch.randint(0, magnitude.numel(), size, generator=gen)]
    theta_nor = float(torch.quantile(sample, 0.99))
    theta_out = float(magnitude.max()) * 1.01
    data = Data(X, W, theta_nor, theta_out, cfg.T)
    data.outlier_fraction = float((magnitude >= theta_nor).double().mean())
    data.boundary_count = int((magnitude == theta_nor).sum())
    return data


def make_oat(data: Data, mode: str = "fast") -> OATNeuron:
    """An OAT neuron with the data's thresholds."""
    return OATNeuron(data.theta_nor, data.theta_out, T=data.T, mode=mode)


def make_linear(data: Data, mode: str) -> SpikingLinear:
    """``SpikingLinear(W)`` with an OAT input neuron, in ``mode``."""
    module = SpikingLinear(data.W, None, {"input": make_oat(data)}, T=data.T)
    set_mode(module, mode)
    return module


# --------------------------------------------------------------------------------- timing


def time_cases(cases: dict[str, Case]) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Time the cases interleaved (round-robin) after one warm-up call each.

    Interleaving spreads any background load over all cases alike, so ratios stay meaningful on
    a shared machine. Returns per-case ``median_s``, ``min_s``, ``n`` and the digested warm-up
    results.
    """
    digests = {}
    for name, case in cases.items():
        result = case.fn()
        digests[name] = case.digest(result) if case.digest else None
        del result
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(max(case.repeats for case in cases.values())):
        for name, case in cases.items():
            if len(samples[name]) < case.repeats:
                start = time.perf_counter()
                case.fn()
                samples[name].append(time.perf_counter() - start)
    stats = {
        name: {"median_s": statistics.median(s), "min_s": min(s), "n": len(s)}
        for name, s in samples.items()
    }
    return stats, digests


def time_one(fn: Callable[[], Any], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    return time_cases({"x": Case(fn, repeats)})[0]["x"]["median_s"]


# --------------------------------------------------------------------------------- memory


def peak_rss_bytes() -> int:
    """The process's peak RSS (``VmHWM``) in bytes."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) * 1024


def current_rss_bytes() -> int:
    """The process's current RSS (``VmRSS``) in bytes."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ``clear_refs`` 5); False if not permitted."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def memory_call(case: str, data: Data) -> Callable[[], Any]:
    """The call measured by memory case ``case`` (inputs built before the measurement)."""
    if case in ("float", "fast", "spike"):
        if case == "float":
            return lambda: F.linear(data.X, data.W)
        module = make_linear(data, case)
        return lambda: module(data.X)
    if case == "spike_accumulate":
        sim = SpikeSim(data.T)
        lifted = sim.lift(data.X)
        return lambda: sim.accumulate(lifted)
    if case in ("oat_fast", "oat_spikes"):
        oat = make_oat(data)
        return (lambda: oat(data.X)) if case == "oat_fast" else (lambda: oat.spikes(data.X))
    peer = PeerOAT(data)
    if case == "peer_oat":
        return lambda: peer.value(data.X)
    lifted = SpikeSim(data.T).lift(data.X)
    return lambda: peer.train(lifted)


def memory_worker(case: str, quick: bool) -> None:
    """Measure the peak extra RSS of one call of ``case`` and print it as one JSON line."""
    cfg = QUICK if quick else FULL
    torch.manual_seed(SEED)
    with torch.inference_mode():
        data = make_data(cfg)
        call = memory_call(case, data)
        exact = reset_peak_rss()
        before = current_rss_bytes()
        start = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - start
        peak = peak_rss_bytes()
        del result
    extra = max(peak - before, 0)
    report = {"case": case, "extra_bytes": extra, "seconds": seconds, "peak_reset": exact}
    report["trains"] = extra / cfg.train_bytes
    print(json.dumps(report))


def measure_memory(case: str, quick: bool) -> dict[str, Any]:
    """Run :func:`memory_worker` for ``case`` in a fresh subprocess and return its report."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-case", case]
    cmd += ["--quick"] if quick else []
    cmd += ["--threads", str(torch.get_num_threads())]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"case": case, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------------ peer


def peer_status() -> tuple[Any, str | None]:
    """Import spikingjelly's few-spike module; return (module, None) or (None, reason)."""
    try:
        from spikingjelly.activation_based.neuron import few_spike
    except Exception as err:  # any import failure makes the peer "n/a", never a crash
        return None, f"import failed: {type(err).__name__}: {err}"
    version = metadata.version(PEER)
    if version != PEER_VERSION:
        return few_spike, f"version {version} (benchmark written for {PEER_VERSION})"
    return few_spike, None


def mt_table(few_spike: Any, tau: float, T: int) -> Any:
    """The MT neuron of M1 as a spikingjelly ``FewSpikeTable``: ``theta = h = d = tau 2**-t``."""
    tau32 = float(torch.tensor(tau, dtype=torch.float32))
    weights = torch.tensor([tau32 * 2.0**-t for t in range(1, T + 1)], dtype=torch.float32)
    return few_spike.FewSpikeTable(theta=weights, h=weights, d=weights)


class PeerOAT:
    """spikingjelly's ``OutlierAwareThresholdNode`` with our thresholds and MT tables."""

    def __init__(self, data: Data) -> None:
        """Build the node in both step modes; raise ``RuntimeError`` if the peer is missing."""
        few_spike, reason = peer_status()
        if few_spike is None:
            raise RuntimeError(reason)
        tables = [mt_table(few_spike, tau, data.T) for tau in (data.theta_nor, data.theta_out)]
        kwargs = {"split_threshold": data.theta_nor, "clamp_value": data.theta_out}
        node = few_spike.OutlierAwareThresholdNode
        self.single = node(tables[0], tables[1], step_mode="s", **kwargs)
        self.multi = node(tables[0], tables[1], step_mode="m", **kwargs)

    def value(self, x: Tensor) -> Tensor:
        """Single-step mode: the summed output for the accumulated input ``x``."""
        return self.single(x)

    def train(self, x_seq: Tensor) -> Tensor:
        """Multi-step mode: the weighted train ``[T, ...]`` for an input train ``x_seq``."""
        return self.multi(x_seq)


def peer_hg(few_spike: Any, neuron: HGNeuron) -> Any:
    """Our fitted HG neuron as a spikingjelly ``HGNode`` (one table per segment, K+1 steps).

    spikingjelly's FS tables have neither an output offset nor a per-segment input shift, so a
    leading step with ``theta = h = edge_i`` and ``d = offset_i`` (it always fires inside the
    segment) supplies both; the K bit-serial steps follow, ``theta = h = w_i 2**-t`` and
    ``d = delta_i 2**(K-t)``. Its gate routes ``(g_{i-1}, g_i]`` (ours ``[g_{i-1}, g_i)``).
    """
    K, edges = neuron.K, neuron.edges
    steps = 2.0 ** -torch.arange(1, K + 1, dtype=torch.float32)
    tables = []
    for i in range(neuron.delta.numel()):
        width = edges[i + 1] - edges[i]
        theta = torch.cat([edges[i : i + 1], width * steps])
        d = torch.cat([neuron.offset[i : i + 1], neuron.delta[i] * 2.0**K * steps])
        tables.append(few_spike.FewSpikeTable(theta=theta, h=theta, d=d))
    return few_spike.HGNode(tables, edges[1:-1].clone(), step_mode="s")


# ----------------------------------------------------------------------------- benchmarks


def bench_linear(cfg: Config, data: Data) -> dict[str, Any]:
    """Float ``F.linear`` vs ``SpikingLinear`` (OAT input) in fast and spike mode."""
    fast, spike = make_linear(data, "fast"), make_linear(data, "spike")
    cases = {
        "float": Case(lambda: F.linear(data.X, data.W), cfg.repeats, lambda y: y),
        "fast": Case(lambda: fast(data.X), cfg.repeats, lambda y: y),
        "spike": Case(lambda: spike(data.X), cfg.slow_repeats, lambda y: y),
    }
    stats, out = time_cases(cases)
    scale = float(out["float"].abs().max())
    for name in ("fast", "spike"):
        stats[name]["ratio"] = stats[name]["median_s"] / stats["float"]["median_s"]
        diff = out[name] - out["float"]
        stats[name]["rel_err_vs_float"] = float(diff.norm() / out["float"].norm())
    stats["fast_vs_spike_max_abs_rel"] = float((out["fast"] - out["spike"]).abs().max()) / scale
    return stats


def exact_oat(data: Data) -> Tensor:
    """M1/M2 on ``X`` computed independently here, in float64 (exact for float32 inputs).

    ``tau = theta_out`` where ``|x| >= theta_nor`` else ``theta_nor`` (thresholds rounded to
    float32 as the neurons store them); ``q = min(floor(|x| 2**T / tau), 2**T - 1)``; value
    ``sign(x) q tau / 2**T``. For float32 ``x`` and ``tau`` a float64 quotient cannot round up
    to the next integer, so the floor is exact.
    """
    x = data.X.double()
    nor, out = (
        torch.tensor(v, dtype=torch.float32).double() for v in (data.theta_nor, data.theta_out)
    )
    magnitude = x.abs()
    tau = torch.where(magnitude >= nor, out, nor)
    q = torch.clamp(torch.floor(magnitude * 2.0**data.T / tau), max=2.0**data.T - 1)
    return torch.sign(x) * q * tau / 2.0**data.T


def oat_errors(data: Data, value: Tensor, exact: Tensor) -> dict[str, float]:
    """Errors of an OAT output in units of ``theta_nor / 2**T``.

    Max abs error vs ``X`` (all, normal-only, outliers; outliers ``|x| >= theta_nor`` have
    resolution ``theta_out / 2**T``), the max abs difference from the exact M2 value ``exact``,
    and how many elements differ from it by more than half a unit (a different code ``q``; the
    float32 rounding of a correct value stays below that).
    """
    err = (value.double() - data.X.double()).abs() / data.unit
    outlier = data.X.abs() >= data.theta_nor
    diff = (value.double() - exact).abs() / data.unit
    return {
        "max_err_units": float(err.max()),
        "max_err_normal_units": float(err[~outlier].max()),
        "max_err_outlier_units": float(err[outlier].max()) if outlier.any() else 0.0,
        "max_diff_vs_exact_units": float(diff.max()),
        "n_code_vs_exact": int((diff > 0.5).sum()),
    }


def bench_oat(cfg: Config, data: Data) -> dict[str, Any]:
    """Our OAT alone (fast value, spike train) and the peer's OAT node, on ``X``."""
    ours, ours_train = make_oat(data), make_oat(data)
    lifted = SpikeSim(data.T).lift(data.X)
    summed = lambda train: train.sum(0, dtype=torch.float64)  # noqa: E731
    cases = {
        "ours_fast": Case(lambda: ours(data.X), cfg.repeats, lambda y: y),
        "ours_spikes": Case(lambda: ours_train.spikes(data.X), cfg.slow_repeats, summed),
    }
    try:
        peer = PeerOAT(data)
        cases["peer_value"] = Case(lambda: peer.value(data.X), cfg.slow_repeats, lambda y: y)
        cases["peer_train"] = Case(lambda: peer.train(lifted), cfg.slow_repeats, summed)
        peer_reason = peer_status()[1]
    except Exception as err:
        peer_reason = f"n/a: {type(err).__name__}: {err}"
    stats, out = time_cases(cases)
    exact = exact_oat(data)
    for name in stats:
        stats[name].update(oat_errors(data, out[name], exact))
        stats[name]["ratio_vs_ours_fast"] = stats[name]["median_s"] / stats["ours_fast"]["median_s"]
    stats["peer_note"] = peer_reason
    return stats


def function_errors(name: str, grid: Tensor, value: Tensor) -> dict[str, float]:
    """Max abs and max relative error vs the exact function (float64) on ``grid``.

    Relative error skips points where ``|f| < 1e-6 max |f|`` (as ``las.fitting.hg_fit.measure``).
    """
    exact = target_function(name).fn(grid.double())
    err = (value.double() - exact).abs()
    significant = exact.abs() >= 1e-6 * exact.abs().max()
    return {
        "max_abs": float(err.max()),
        "max_rel": float((err[significant] / exact.abs()[significant]).max()),
    }


def bench_hg_function(cfg: Config, name: str, few_spike: Any) -> dict[str, Any]:
    """Fit ``name`` on its default range; time and measure ours vs the peer's ``HGNode``."""
    start = time.perf_counter()
    neuron, report = fit_hg(name, tolerance=cfg.hg_tolerance)
    row: dict[str, Any] = {"function": name, "fit_s": time.perf_counter() - start}
    row.update({k: report.as_dict()[k] for k in ("low", "high", "segments", "K", "error")})
    row.update(fit_max_abs=report.max_abs, fit_max_rel=report.max_rel, fit_met=report.met)
    grid = torch.linspace(report.low, report.high, cfg.grid_points, dtype=torch.float32)
    per_million = 1e3 * (1 << 20) / grid.numel()  # ms per 2**20 elements
    spiking = copy.deepcopy(neuron)
    set_mode(spiking, "spike")
    row["ours"] = function_errors(name, grid, neuron(grid))
    row["ours"]["fast_ms_per_M"] = time_one(lambda: neuron(grid), cfg.repeats) * per_million
    row["ours"]["spike_ms_per_M"] = time_one(lambda: spiking(grid), cfg.slow_repeats) * per_million
    if few_spike is None:
        return row
    try:
        node = peer_hg(few_spike, neuron)
        call = (lambda: node(grid.abs())) if neuron.symmetry == "even" else (lambda: node(grid))
        row["peer"] = function_errors(name, grid, call())
        row["peer"]["ms_per_M"] = time_one(call, cfg.slow_repeats) * per_million
    except Exception as err:
        row["peer"] = {"note": f"n/a: {type(err).__name__}: {err}"}
    return row


def bench_hg(cfg: Config) -> dict[str, Any]:
    """HG neurons for ``cfg.hg_functions``: ours vs spikingjelly's ``HGNode``."""
    few_spike, reason = peer_status()
    rows = [bench_hg_function(cfg, name, few_spike) for name in cfg.hg_functions]
    return {"rows": rows, "peer_note": reason}


def breakdown_fast(cfg: Config, data: Data) -> dict[str, float]:
    """Seconds of each piece of the fast path, through the neuron's own methods."""
    oat, x = make_oat(data), data.X
    pieces = {
        "check_finite(X)": lambda: check_finite(x, None),
        "oat.effective_tau(X) (f64 routing)": lambda: oat.effective_tau(x),
        "oat.closed_form(X) (value, incl. routing)": lambda: oat.closed_form(x),
        "oat(X) (check + closed form + cast)": lambda: oat(x),
        "oat.count(X) (spike counts, not in forward)": lambda: oat.count(x),
        "F.linear(X, W)": lambda: F.linear(x, data.W),
    }
    return {name: time_one(fn, cfg.repeats) for name, fn in pieces.items()}


def breakdown_spike(cfg: Config, data: Data) -> dict[str, float]:
    """Seconds of each piece of the spike path (the ops ``SpikeSim`` runs for SpikingLinear)."""
    sim, oat = SpikeSim(data.T), make_oat(data)
    lifted = sim.lift(data.X)
    train = oat.spikes(data.X)
    out = F.linear(train, data.W)
    pieces = {
        "lift (zeros train, X at t=1)": lambda: sim.lift(data.X),
        "accumulate input (sum, dtype=f64)": lambda: sim.accumulate(lifted),
        "oat.spikes (16 f64 steps + copy)": lambda: oat.spikes(data.X),
        "F.linear on the train (T x GEMM)": lambda: F.linear(train, data.W),
        "accumulate output (sum, dtype=f64)": lambda: sim.accumulate(out),
    }
    return {name: time_one(fn, cfg.slow_repeats) for name, fn in pieces.items()}


# -------------------------------------------------------------------------------- reports


def fmt(value: Any, spec: str = ".3g") -> str:
    """Format a number (or pass a string through) for a table cell."""
    if value is None:
        return "n/a"
    return format(value, spec) if isinstance(value, int | float) else str(value)


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def memory_trains(memory: dict[str, Any], case: str) -> str:
    """Peak extra memory of ``case`` in trains, or the reason it is missing."""
    if case not in memory:
        return "not run"
    report = memory[case]
    return fmt(report["trains"]) if "trains" in report else f"n/a ({report.get('error', '-')})"


def goals(cfg: Config, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals of the brief and whether they are met."""
    linear, memory = result["linear"], result["memory"]
    spike_mem = memory.get("spike", {}).get("trains")
    return [
        {"goal": "fast / float <= 1.5", "value": linear["fast"]["ratio"]},
        {"goal": f"spike / float <= T = {cfg.T}", "value": linear["spike"]["ratio"]},
        {"goal": "spike-mode peak extra memory <= 2 trains", "value": spike_mem},
    ]


def check_goals(rows: list[dict[str, Any]], cfg: Config) -> list[dict[str, Any]]:
    """Add ``met`` to each goal row."""
    limits = [1.5, float(cfg.T), 2.0]
    for row, limit in zip(rows, limits, strict=True):
        row["met"] = None if row["value"] is None else bool(row["value"] <= limit)
    return rows


def render_linear(cfg: Config, result: dict[str, Any]) -> str:
    """The linear-layer table."""
    lin, mem = result["linear"], result["memory"]
    rows = [
        ["float F.linear", lin["float"]["median_s"] * 1e3, 1.0, "-", memory_trains(mem, "float")],
        [
            "SpikingLinear fast",
            lin["fast"]["median_s"] * 1e3,
            lin["fast"]["ratio"],
            lin["fast"]["rel_err_vs_float"],
            memory_trains(mem, "fast"),
        ],
        [
            "SpikingLinear spike",
            lin["spike"]["median_s"] * 1e3,
            lin["spike"]["ratio"],
            lin["spike"]["rel_err_vs_float"],
            memory_trains(mem, "spike"),
        ],
    ]
    head = ["op", "median ms", "x float", "rel. err vs float", "peak extra mem (trains)"]
    title = f"### Linear {cfg.n}x{cfg.n} @ {cfg.n}x{cfg.n}, T={cfg.T}"
    note = f"fast vs spike max |diff| / max|y|: {fmt(lin['fast_vs_spike_max_abs_rel'])}"
    return f"{title}\n\n{table(head, rows)}\n\n{note}"


def render_oat(cfg: Config, result: dict[str, Any]) -> str:
    """The OAT-neuron table (ours and the peer)."""
    oat, mem, data = result["oat"], result["memory"], result["data"]
    labels = {
        "ours_fast": ("ours OAT fast `oat(X)`", "oat_fast"),
        "ours_spikes": ("ours OAT train `oat.spikes(X)`", "oat_spikes"),
        "peer_value": ("spikingjelly OAT node, step_mode s", "peer_oat"),
        "peer_train": ("spikingjelly OAT node, step_mode m", "peer_oat_train"),
    }
    rows = []
    for key, (label, mem_case) in labels.items():
        if key not in oat:
            rows.append([label, *["n/a"] * 8])
            continue
        s = oat[key]
        rows.append(
            [
                label,
                s["median_s"] * 1e3,
                s["ratio_vs_ours_fast"],
                s["max_err_units"],
                s["max_err_normal_units"],
                s["max_err_outlier_units"],
                s["max_diff_vs_exact_units"],
                s["n_code_vs_exact"],
                memory_trains(mem, mem_case),
            ]
        )
    head = ["neuron", "median ms", "x ours fast", "max err", "normal", "outlier"]
    head += ["max diff vs exact M2", "# codes != exact", "peak extra mem (trains)"]
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
    if oat.get("peer_note"):
        note += f" Peer: {oat['peer_note']}."
    title = f"### OAT neuron alone on X ({cfg.n}x{cfg.n}, T={cfg.T})"
    return f"{title}\n\n{table(head, rows)}\n\n{note}"


def render_hg(cfg: Config, result: dict[str, Any]) -> str:
    """The HG-function table (ours vs the peer's HGNode with our tables)."""
    rows = []
    for r in result["hg"]["rows"]:
        ours, peer = r["ours"], r.get("peer", {"note": "n/a"})
        peer_cells = (
            [peer["max_abs"], peer["max_rel"], peer["ms_per_M"]]
            if "max_abs" in peer
            else [peer.get("note", "n/a")] * 3
        )
        rows.append(
            [
                r["function"],
                f"[{fmt(r['low'])}, {fmt(r['high'])}]",
                r["segments"],
                r["error"][:3],
                r["fit_max_abs"],
                r["fit_max_rel"],
                ours["max_abs"],
                ours["max_rel"],
                ours["fast_ms_per_M"],
                ours["spike_ms_per_M"],
                *peer_cells,
            ]
        )
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


def render_goals(result: dict[str, Any]) -> str:
    """The goals table."""
    rows = [
        [g["goal"], g["value"], {True: "met", False: "MISSED", None: "n/a"}[g["met"]]]
        for g in result["goals"]
    ]
    return "### Goals\n\n" + table(["goal", "measured", "status"], rows)


def render(cfg: Config, result: dict[str, Any]) -> str:
    """The full Markdown report."""
    meta = result["meta"]
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
    parts = [head, render_goals(result), render_linear(cfg, result), render_oat(cfg, result)]
    parts += [render_hg(cfg, result), render_breakdown(result)]
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------ main


def run(cfg: Config, quick: bool) -> dict[str, Any]:
    """Run every benchmark once and return the results."""
    start, load_before = time.perf_counter(), os.getloadavg()
    torch.manual_seed(SEED)
    with torch.inference_mode():
        data = make_data(cfg)
        result: dict[str, Any] = {"config": asdict(cfg)}
        result["data"] = {
            "theta_nor": data.theta_nor,
            "theta_out": data.theta_out,
            "unit": data.unit,
            "outlier_fraction": data.outlier_fraction,
            "boundary_count": data.boundary_count,
        }
        result["linear"] = bench_linear(cfg, data)
        result["oat"] = bench_oat(cfg, data)
        result["breakdown"] = {"fast": breakdown_fast(cfg, data)}
        result["breakdown"]["spike"] = breakdown_spike(cfg, data)
        result["hg"] = bench_hg(cfg)
    result["memory"] = {case: measure_memory(case, quick) for case in cfg.memory_cases}
    result["goals"] = check_goals(goals(cfg, result), cfg)
    result["meta"] = {
        "quick": quick,
        "torch": torch.__version__,
        "peer": f"{PEER} {_version(PEER)}",
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "wall_s": time.perf_counter() - start,
    }
    return result


def _version(package: str) -> str:
    """Installed version of ``package`` or ``"not installed"``."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, finishes in seconds")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--memory-case", choices=MEMORY_CASES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_case:
        memory_worker(args.memory_case, args.quick)
        return 0
    cfg = QUICK if args.quick else FULL
    result = run(cfg, args.quick)
    report = render(cfg, result)
    print(report)
    out = args.out or OUT_DIR / ("core_quick.json" if args.quick else "core.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    out.with_suffix(".md").write_text(report)
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
