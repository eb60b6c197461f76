"""Peak memory of ``bench_core``'s calls, one fresh subprocess per case.

The parent calls :func:`measure_memory`, which re-runs the entry script (``bench_core.py``) as
``--memory-case CASE [--quick] --threads N``; that child runs :func:`memory_worker`, which builds
the inputs, then measures one call with the peak-RSS counter reset right before it, and prints
the report as one JSON line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from core_data import FULL, QUICK, SEED, Data, make_data, make_linear, make_oat
from core_peer import PeerOAT
from measure import ChildError, peak_extra_rss, run_json_child

from las.ops import SpikeSim


def memory_call(case: str, data: Data) -> Callable[[], Any]:
    """The call measured by memory case ``case`` (inputs built before the measurement).

    ``case`` is one of :data:`core_data.MEMORY_CASES`; the peer cases raise ``RuntimeError``
    when spikingjelly is missing.
    """
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
    """Child body: measure the peak extra RSS of one call of ``case``; print it as one JSON line.

    The line holds ``case``, ``extra_bytes``, ``seconds``, ``peak_reset`` (see
    :func:`measure.peak_extra_rss`) and ``trains`` (``extra_bytes`` in T-step trains of ``X``).
    """
    cfg = QUICK if quick else FULL
    torch.manual_seed(SEED)
    with torch.inference_mode():
        data = make_data(cfg)
        call = memory_call(case, data)
        report = {"case": case, **peak_extra_rss(call)}
    report["trains"] = report["extra_bytes"] / cfg.train_bytes
    print(json.dumps(report))


def measure_memory(script: Path, case: str, quick: bool) -> dict[str, Any]:
    """Run :func:`memory_worker` for ``case`` via ``script --memory-case`` in a fresh process.

    ``script`` is the entry point that dispatches ``--memory-case`` (``bench_core.py``); the child
    gets this process's torch thread count. Returns the child's report, or ``{"case", "error"}``
    with the last line of its stderr if it failed.
    """
    args = ["--memory-case", case, *(["--quick"] if quick else [])]
    args += ["--threads", str(torch.get_num_threads())]
    try:
        return run_json_child(script, args)
    except ChildError as err:
        return {"case": case, "error": str(err)}
