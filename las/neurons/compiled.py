"""Element-wise closed forms compiled into one fused pass each (M6 fast mode).

A neuron's fast mode is a chain of element-wise tensor operations, each a full pass over memory
in eager PyTorch. :func:`run` hands such a chain (a pure tensor function) to ``torch.compile``
(inductor: C++ on CPU, Triton on CUDA; dynamic shapes, integer arguments as constants), which
evaluates the very same operations per element in one loop, intermediates in registers instead
of tensors. Where an eager closed form works in float64, its fused form gets the same values from
exact float32 and int64 arithmetic (float64 vectors cost several times more on CPU, and on many
GPUs). Every fused function in ``las`` has only exact products before additions, so a
compiler's multiply-add contraction cannot change a result; each is tested bit for bit against
its eager closed form. Their table lookups index with segments clamped into the table, so
inductor's per-element bounds assertion is off (:data:`INDUCTOR_OPTIONS`).

The fused functions compile only once the process has run :data:`EAGER_ELEMENTS` elements
through them eagerly (the same functions, op by op: the same values), as a tiered JIT does. A
compile costs seconds, so a process that evaluates little (the ``evaluate`` stage on 1,024
held-out tokens) is faster never compiling, and one that evaluates much (an lm-eval task) pays
the eager prefix once.

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
#: Inductor options of every compiled function: no bounds assertion on indirect loads (every
#: index is clamped into its table by construction; the assertion cost a quarter to a third
#: of an HG pass).
INDUCTOR_OPTIONS = {"assert_indirect_indexing": False}
ENABLED = os.environ.get("LAS_COMPILE", "1") != "0"
#: Elements (of the first argument, summed over every fused call of the process) run eagerly
#: before the fused functions compile: the ski-rental point, where the time the eager passes
#: lose to fused ones equals one compile. Measured by ``bench/bench_compile.py`` on the 2-core
#: CPU machine of README "Performance" (1 thread): a fused MT pass 1.0 ns per element, the same
#: function eager 17 ns (value and count: 2.2 vs 44 ns); the first compile in a process 14 s
#: with an empty inductor cache, 3.6 s with a warm one, every later function 0.2 to 2 s. So the
#: break-even is about 2e8 (warm) to 9e8 (cold) elements of the first compile, and after it
#: every function compiles at once. With 2**30 a process pays at most about twice the better
#: choice's time for its prefix; the ``evaluate`` stage (5e8 elements) compiles nothing.
EAGER_ELEMENTS = int(os.environ.get("LAS_COMPILE_AFTER", 1 << 30))
_compiled: dict[str, Callable] = {}
_eager_elements = 0


def wanted(x: Tensor, min_elements: int | None = None) -> bool:
    """Whether a closed form on ``x`` should run fused (enabled and ``x`` large enough)."""
    return ENABLED and x.numel() >= (MIN_ELEMENTS if min_elements is None else min_elements)


def run(name: str, fn: Callable, *args):
    """``fn(*args)``: eager until the process has run :data:`EAGER_ELEMENTS` elements of fused
    functions, then compiled (once per ``name``, dynamic shapes); eager if compiling fails. The
    same values either way."""
    global ENABLED, _eager_elements
    import torch

    if name not in _compiled:
        if _eager_elements < EAGER_ELEMENTS:
            _eager_elements += args[0].numel()
            return fn(*args)
        _compiled[name] = torch.compile(fn, dynamic=True, options=INDUCTOR_OPTIONS)
    # DYNAMO_CONFIG set for the call and restored after it: what ``config.patch`` does, at a
    # third of its cost (about 12 instead of 35 us per call, a few hundred calls per forward).
    config = torch._dynamo.config
    saved = [getattr(config, key) for key in DYNAMO_CONFIG]
    try:
        for key, value in DYNAMO_CONFIG.items():
            setattr(config, key, value)
        return _compiled[name](*args)
    except Exception as err:  # stay correct without a working compiler
        ENABLED = False
        warnings.warn(f"las: closed forms not compiled ({err!r}); eager", stacklevel=3)
        return fn(*args)
    finally:
        for key, value in zip(DYNAMO_CONFIG, saved, strict=True):
            setattr(config, key, value)
