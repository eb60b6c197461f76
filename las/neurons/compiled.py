"""Element-wise closed forms compiled into one fused pass each (M6 fast mode).

A neuron's fast mode is a chain of element-wise tensor operations, each a full pass over memory
in eager PyTorch. :func:`run` hands such a chain (a pure tensor function) to ``torch.compile``
(inductor: C++ on CPU, Triton on CUDA; dynamic shapes, integer arguments as constants), which
evaluates the very same IEEE operations per element in one loop, with float64 intermediates in
registers instead of float64 tensors. Every fused function in ``las`` has only exact products
before additions, so a compiler's multiply-add contraction cannot change a result; each is
tested bit for bit against its eager closed form.

A function is compiled only once it has run :data:`EAGER_ELEMENTS` elements eagerly (the
same function, op by op: the same values), as a tiered JIT does. A compile costs seconds, so a
process that evaluates little (the ``evaluate`` stage on 1,024 held-out tokens) is faster never
compiling, and one that evaluates much (an lm-eval task) pays the eager prefix once.

``LAS_COMPILE=0`` switches fusion off (eager closed forms everywhere); ``LAS_COMPILE_AFTER=<n>``
sets :data:`EAGER_ELEMENTS` (0: compile on first use, as the speed benchmarks and the tests of
the compiled passes do); if compiling fails (no C++ compiler, an unsupported backend) ``las``
warns once and stays eager.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

from torch import Tensor

#: Tensors with fewer elements stay eager (a compile costs seconds; small tensors are cheap).
MIN_ELEMENTS = 1 << 15
#: Dynamo settings of every compiled call. Integer arguments (code bits, HG layouts) are
#: compiled as constants: a symbolic ``T`` left ``2.0**T`` to a per-element ``pow`` in a scalar
#: loop (a fused MT pass ran 14x slower than with constants). Shapes stay dynamic; each distinct
#: integer tuple is one more compile of its function, hence the higher recompile limit.
DYNAMO_CONFIG = {"specialize_int": True, "recompile_limit": 64}
ENABLED = os.environ.get("LAS_COMPILE", "1") != "0"
#: Elements (of its first argument, summed over calls) a function runs eagerly before it is
#: compiled: the ski-rental point, where the time an eager pass loses to a fused one equals
#: one compile. Measured on the 2-core CPU machine of README "Performance" (bench/README.md,
#: ``bench_compile.py``): a fused MT pass 2 to 3 ns per element, the same function eager 17 to
#: 26 ns, the first compile in a process 6.6 s (warm inductor cache) to 11.5 s (cold): break-even
#: at 3e8 to 8e8 elements. With 2**29 a run pays at most about twice the better choice's time
#: for the prefix, and the ``evaluate`` stage (5e8 elements over three functions) compiles none.
EAGER_ELEMENTS = int(os.environ.get("LAS_COMPILE_AFTER", 1 << 29))
_compiled: dict[str, Callable] = {}
_eager_elements: dict[str, int] = {}


def wanted(x: Tensor, min_elements: int | None = None) -> bool:
    """Whether a closed form on ``x`` should run fused (enabled and ``x`` large enough)."""
    return ENABLED and x.numel() >= (MIN_ELEMENTS if min_elements is None else min_elements)


def run(name: str, fn: Callable, *args):
    """``fn(*args)``: eager until ``name`` has run :data:`EAGER_ELEMENTS` elements, then compiled
    (once per ``name``, dynamic shapes); eager if compiling fails. The same values either way."""
    global ENABLED
    import torch

    if name not in _compiled:
        done = _eager_elements.get(name, 0)
        if done < EAGER_ELEMENTS:
            _eager_elements[name] = done + args[0].numel()
            return fn(*args)
        _compiled[name] = torch.compile(fn, dynamic=True)
    try:
        with torch._dynamo.config.patch(**DYNAMO_CONFIG):
            return _compiled[name](*args)
    except Exception as err:  # stay correct without a working compiler
        ENABLED = False
        warnings.warn(f"las: closed forms not compiled ({err!r}); eager", stacklevel=3)
        return fn(*args)
