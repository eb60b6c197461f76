"""Element-wise closed forms compiled into one fused pass each (M6 fast mode).

A neuron's fast mode is a chain of element-wise tensor operations, each a full pass over memory
in eager PyTorch. :func:`run` hands such a chain (a pure tensor function) to ``torch.compile``
(inductor: C++ on CPU, Triton on CUDA; dynamic shapes, integer arguments as constants), which
evaluates the very same IEEE operations per element in one loop, with float64 intermediates in
registers instead of float64 tensors. Every fused function in ``las`` has only exact products
before additions, so a compiler's multiply-add contraction cannot change a result; each is
tested bit for bit against its eager closed form.

``LAS_COMPILE=0`` switches fusion off (eager closed forms everywhere); if compiling fails (no C++
compiler, an unsupported backend) ``las`` warns once and stays eager.
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
_compiled: dict[str, Callable] = {}


def wanted(x: Tensor, min_elements: int | None = None) -> bool:
    """Whether a closed form on ``x`` should run fused (enabled and ``x`` large enough)."""
    return ENABLED and x.numel() >= (MIN_ELEMENTS if min_elements is None else min_elements)


def run(name: str, fn: Callable, *args):
    """``fn(*args)`` compiled (once per ``name``, dynamic shapes); eager if compiling fails."""
    global ENABLED
    import torch

    if name not in _compiled:
        _compiled[name] = torch.compile(fn, dynamic=True)
    try:
        with torch._dynamo.config.patch(**DYNAMO_CONFIG):
            return _compiled[name](*args)
    except Exception as err:  # stay correct without a working compiler
        ENABLED = False
        warnings.warn(f"las: closed forms not compiled ({err!r}); eager", stacklevel=3)
        return fn(*args)
