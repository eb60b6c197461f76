"""Timing and memory measurement shared by the benchmark scripts.

Timing: :func:`time_cases` (interleaved repeats after a warm-up) and :func:`time_one`. Memory, in
two ways: the kernel's peak-RSS counter reset right before one call (:func:`peak_extra_rss`,
Linux, exact), or RSS sampled by a thread while a block runs (:func:`sampled_peak_rss`, any OS
with ``psutil``). Memory is measured in a fresh interpreter: :func:`run_json_child` runs a script
there and returns the JSON line it prints.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The steady state is what the timings measure: las's fused closed forms compile on first use
# here (the warm-up pays it), not after their tiered eager prefix (las.neurons.compiled).
# Imported before las by every script that times las code (bench_eval times las-eval as a
# user runs it and does not import this module).
os.environ.setdefault("LAS_COMPILE_AFTER", "0")

# --------------------------------------------------------------------------------- timing


@dataclass
class Case:
    """A timed callable: ``repeats`` timed calls; ``digest`` keeps a summary of one result."""

    fn: Callable[[], Any]
    repeats: int
    digest: Callable[[Any], Any] | None = None


def time_cases(cases: dict[str, Case]) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Time the cases interleaved (round-robin) after one warm-up call each.

    Interleaving spreads any background load over all cases alike, so ratios stay meaningful on
    a shared machine. Returns per-case ``median_s``, ``min_s``, ``n`` and the digested warm-up
    results (``None`` for a case without ``digest``).
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


# ------------------------------------------------------------------- memory: peak counter


def _status_bytes(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmHWM``, ``VmRSS``) in bytes."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", status).group(1)) * 1024


def peak_rss_bytes() -> int:
    """The process's peak RSS (``VmHWM``) in bytes."""
    return _status_bytes("VmHWM")


def current_rss_bytes() -> int:
    """The process's current RSS (``VmRSS``) in bytes."""
    return _status_bytes("VmRSS")


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ``clear_refs`` 5); False if not permitted."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_extra_rss(call: Callable[[], Any]) -> dict[str, Any]:
    """Call ``call()`` once with the peak-RSS counter reset right before it.

    Returns ``extra_bytes`` (peak RSS during the call minus the RSS before it, at least 0: every
    allocation counts, torch's included, and nothing from before), ``seconds`` (of the call) and
    ``peak_reset`` (False if the reset was not permitted: the peak may then predate the call).
    The result of the call is dropped before returning.
    """
    exact = reset_peak_rss()
    before = current_rss_bytes()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    peak = peak_rss_bytes()
    del result
    return {"extra_bytes": max(peak - before, 0), "seconds": seconds, "peak_reset": exact}


# ------------------------------------------------------------------ memory: RSS sampling


@contextmanager
def sampled_peak_rss(interval_s: float = 0.002) -> Iterator[dict[str, int]]:
    """Sample this process's RSS every ``interval_s`` in a thread while the ``with`` block runs.

    Yields a dict that, once the block has ended, holds ``baseline_bytes`` (the RSS on entry) and
    ``peak_bytes`` (the largest sample, at least the baseline). Sampling misses peaks shorter
    than the interval; use :func:`peak_extra_rss` where the kernel counter is available.
    """
    import psutil  # only the scripts that sample need it

    process = psutil.Process()
    report = {"baseline_bytes": process.memory_info().rss}
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(interval_s)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield report
    finally:
        done.set()
        sampler.join()
        report["peak_bytes"] = max(peak[0], report["baseline_bytes"])


# ------------------------------------------------------------------------ child processes


class ChildError(RuntimeError):
    """A child run failed; the message is the last line of its stderr (or ``"failed"``)."""


def run_json_child(
    script: str | Path, args: list[str], env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``python script *args`` in a fresh interpreter; return its last JSON-object line.

    ``env``: variables set for the child on top of this process's environment. The JSON line is
    the last stdout line starting with ``{``. Raises :class:`ChildError` if the child exits
    non-zero or prints no such line.
    """
    cmd = [sys.executable, str(script), *args]
    child_env = None if env is None else {**os.environ, **env}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=child_env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise ChildError((proc.stderr.strip().splitlines() or ["failed"])[-1])
    return json.loads(lines[-1])
