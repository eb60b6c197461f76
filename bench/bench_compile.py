"""When compiling a fused closed form pays: eager vs compiled time per element, compile cost.

``python bench/bench_compile.py [--threads 1]`` times, on one ``[1024, 1536]`` float32 tensor (a
SmolLM2 ``down_proj`` input for 1,024 tokens), the fused MT closed form of T = 16 (value; value
and spike count) eager and compiled, and the first compiled call of a fresh process twice: with
an empty inductor cache (cold) and with the cache the first process left (warm). Its output,
the break-even point ``compile / (eager - compiled)`` in elements, is what
``las.neurons.compiled.EAGER_ELEMENTS`` is set from. Prints one JSON object and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from functools import partial

from measure import run_json_child

ELEMENTS = (1024, 1536)


def per_element(fn, args: tuple, elements: int, repeats: int = 5) -> float:
    """Nanoseconds per element of ``fn(*args)``, the mean of ``repeats`` calls after one."""
    fn(*args)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(*args)
    return (time.perf_counter() - start) / repeats / elements * 1e9


def child(threads: int) -> dict[str, float]:
    """In a fresh interpreter: the first compiled call's seconds, then the steady ns/element."""
    import torch

    from las.neurons import compiled
    from las.neurons.codes import BINARY
    from las.neurons.mt import fused_code_value, fused_code_value_count

    torch.set_num_threads(threads)
    x = torch.randn(ELEMENTS, generator=torch.Generator().manual_seed(0))
    args = (x, torch.full((ELEMENTS[1],), 2.5), None, 16, False, False)
    cases = {
        "mt": (fused_code_value, args),
        "mt_value_count": (fused_code_value_count, (*args, BINARY)),
    }
    out = {}
    for name, (fn, a) in cases.items():
        start = time.perf_counter()
        fused = compiled.run(name, fn, *a)
        out[f"{name}_first_s"] = time.perf_counter() - start
        want = fn(*a)
        pairs = zip(fused, want, strict=True) if isinstance(want, tuple) else [(fused, want)]
        assert all(torch.equal(p, q) for p, q in pairs), f"{name}: compiled != eager"
        out[f"{name}_eager_ns"] = per_element(fn, a, x.numel())
        out[f"{name}_compiled_ns"] = per_element(partial(compiled.run, name, fn), a, x.numel())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        print(json.dumps(child(opts.threads)))
        return
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        runs = {
            h: run_json_child(__file__, ["--child", f"--threads={opts.threads}"])
            for h in ("cold", "warm")
        }
    report = {"threads": opts.threads, **runs}
    print(json.dumps(report))
    print("| function | eager ns | compiled ns | first call s, cold | warm | break-even, warm |")
    print("|---|---|---|---|---|---|")
    for name in ("mt", "mt_value_count"):
        warm = runs["warm"]
        eager, fused = warm[f"{name}_eager_ns"], warm[f"{name}_compiled_ns"]
        first = warm[f"{name}_first_s"]
        print(
            f"| {name} | {eager:.1f} | {fused:.2f} | {runs['cold'][f'{name}_first_s']:.2f} | "
            f"{first:.2f} | {first / ((eager - fused) * 1e-9):.2e} |"
        )


if __name__ == "__main__":
    sys.exit(main())
