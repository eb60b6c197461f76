"""Core benchmark: OAT + linear in fast and spike mode, HG neurons, and the spikingjelly peer.

Run ``python bench/bench_core.py`` (full, a few minutes on 2 cores) or ``--quick`` (seconds). It
prints Markdown tables and writes ``bench/out/core.json`` (``core_quick.json`` with ``--quick``).
See ``bench/README.md`` for what is measured and the goals.

Everything runs on the same tensors: one activation ``X`` (standard normal with a few outlier
columns scaled x20) and one weight ``W``, made from a fixed seed. Peak memory is measured in a
fresh subprocess per case (the same script with ``--memory-case``), from the kernel's peak-RSS
counter reset right before the call.

This file is the entry point; the pieces live next to it: ``core_data`` (config, tensors),
``core_cases`` (timed benchmarks), ``core_memory`` (memory children), ``core_peer``
(spikingjelly), ``core_report`` (goals, tables) and ``measure`` (timing and memory helpers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from core_cases import bench_hg, bench_linear, bench_oat, breakdown_fast, breakdown_spike
from core_data import FULL, MEMORY_CASES, QUICK, SEED, Config, make_data
from core_memory import measure_memory, memory_worker
from core_peer import PEER, installed_version
from core_report import goals, render

OUT_DIR = Path(__file__).resolve().parent / "out"
SCRIPT = Path(__file__).resolve()

__all__ = ["FULL", "QUICK", "Config", "main", "run"]


def run(cfg: Config, quick: bool) -> dict[str, Any]:
    """Run every benchmark once (memory cases in child processes) and return the results."""
    start, load_before = time.perf_counter(), os.getloadavg()
    torch.manual_seed(SEED)
    with torch.inference_mode():
        data = make_data(cfg)
        result: dict[str, Any] = {"config": asdict(cfg), "data": data.summary()}
        result["linear"] = bench_linear(cfg, data)
        result["oat"] = bench_oat(cfg, data)
        result["breakdown"] = {"fast": breakdown_fast(cfg, data)}
        result["breakdown"]["spike"] = breakdown_spike(cfg, data)
        result["hg"] = bench_hg(cfg)
    result["memory"] = {case: measure_memory(SCRIPT, case, quick) for case in cfg.memory_cases}
    result["goals"] = goals(cfg, result)
    result["meta"] = {
        "quick": quick,
        "torch": torch.__version__,
        "peer": f"{PEER} {installed_version(PEER)}",
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "wall_s": time.perf_counter() - start,
    }
    return result


def write_report(result: dict[str, Any], report: str, out: Path) -> None:
    """Write ``result`` as JSON to ``out`` and ``report`` next to it as ``.md``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    out.with_suffix(".md").write_text(report)
    print(f"wrote {out} and {out.with_suffix('.md')}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (``--memory-case`` is the hidden child mode of ``run``)."""
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
    write_report(result, report, args.out or OUT_DIR / f"core{'_quick' if args.quick else ''}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
