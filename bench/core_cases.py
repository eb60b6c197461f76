"""The timed benchmarks of ``bench_core``: linear layer, OAT neuron, HG neurons, breakdowns.

Each ``bench_*`` / ``breakdown_*`` function runs inside the caller's ``torch.inference_mode``
on the shared :class:`~core_data.Data` and returns a JSON-ready dict (seconds, ratios, errors).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
import torch.nn.functional as F
from core_data import Config, Data, make_linear, make_oat
from core_peer import PeerOAT, peer_hg, peer_status
from measure import Case, time_cases, time_one
from torch import Tensor

from las.fitting import fit_hg_neuron, target_function
from las.neurons import HGNeuron
from las.neurons.base import check_finite
from las.ops import SpikeSim, set_mode

# ---------------------------------------------------------------------------- linear layer


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


# ------------------------------------------------------------------------------ OAT neuron


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


# ----------------------------------------------------------------------------- HG neurons


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


def ms_per_million(grid: Tensor) -> float:
    """The factor from seconds per call on ``grid`` to milliseconds per 2**20 elements."""
    return 1e3 * (1 << 20) / grid.numel()


def peer_hg_row(cfg: Config, name: str, neuron: HGNeuron, grid: Tensor, few_spike: Any) -> dict:
    """Errors and ms per 2**20 elements of the peer's ``HGNode`` built from ``neuron``.

    An even neuron is fed ``|grid|`` (its symmetry, which the peer lacks). Any failure gives
    ``{"note": "n/a: ..."}`` instead.
    """
    try:
        node = peer_hg(few_spike, neuron)
        call = (lambda: node(grid.abs())) if neuron.symmetry == "even" else (lambda: node(grid))
        row = function_errors(name, grid, call())
        row["ms_per_M"] = time_one(call, cfg.slow_repeats) * ms_per_million(grid)
    except Exception as err:
        row = {"note": f"n/a: {type(err).__name__}: {err}"}
    return row


def bench_hg_function(cfg: Config, name: str, few_spike: Any) -> dict[str, Any]:
    """Fit ``name`` on its default range; time and measure ours vs the peer's ``HGNode``.

    ``few_spike`` is the peer's module or ``None`` (then the row has no ``peer`` entry).
    """
    start = time.perf_counter()
    neuron, report = fit_hg_neuron(name, tolerance=cfg.hg_tolerance)
    row: dict[str, Any] = {"function": name, "fit_s": time.perf_counter() - start}
    row.update({k: report.as_dict()[k] for k in ("low", "high", "segments", "K", "error")})
    row.update(fit_max_abs=report.max_abs, fit_max_rel=report.max_rel, fit_met=report.met)
    grid = torch.linspace(report.low, report.high, cfg.grid_points, dtype=torch.float32)
    per_million = ms_per_million(grid)
    spiking = copy.deepcopy(neuron)
    set_mode(spiking, "spike")
    row["ours"] = function_errors(name, grid, neuron(grid))
    row["ours"]["fast_ms_per_M"] = time_one(lambda: neuron(grid), cfg.repeats) * per_million
    row["ours"]["spike_ms_per_M"] = time_one(lambda: spiking(grid), cfg.slow_repeats) * per_million
    if few_spike is not None:
        row["peer"] = peer_hg_row(cfg, name, neuron, grid, few_spike)
    return row


def bench_hg(cfg: Config) -> dict[str, Any]:
    """HG neurons for ``cfg.hg_functions``: ours vs spikingjelly's ``HGNode``."""
    few_spike, reason = peer_status()
    rows = [bench_hg_function(cfg, name, few_spike) for name in cfg.hg_functions]
    return {"rows": rows, "peer_note": reason}


# ------------------------------------------------------------------------- time breakdown


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
