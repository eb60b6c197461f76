"""The ledger of every tensor operation outside the priced modules (METHOD.md M8 addendum).

Spiking operators and float linear layers are priced by their rules (:mod:`las.energy.rules`).
Everything else a converted forward computes (the model's own code between them: residual
adds, embeddings, RoPE, masks, reshapes) is seen here, one ATen operation at a time, by a
dispatch mode that :func:`las.energy.count_spikes` switches on while the model runs and off
inside every priced module. Each operation is priced or free by a convention stated below, the
same on both sides of the ratio (these are float work in both models); any other operation
stops the count with a ``ValueError`` that names it, so no operation goes unaccounted.

Free (the documented free list, :func:`free_reason`):

* **data movement** (:data:`MOVES`): views, reshapes, transposes, slices, copies, casts,
  concatenation (the KV cache), indexing and embedding lookups (reading a weight row),
  constant tensors (``arange``, ``ones``), dropout in evaluation, reading a 0-d boolean to
  the host (``is_nonzero``: a mask test of the float attention path): no arithmetic on values;
* **0/1 masks** (:data:`SELECTIONS`): ``where`` and ``masked_fill`` select between values;
* **scalar scalings** (:data:`SCALINGS`): a product or quotient by a scalar (a number or a 0-d
  tensor) is folded into the weights that made its operand or the next neuron's threshold, as
  the operators' rules fold theirs (Gemma's ``sqrt(hidden)`` embedding scale, folded into the
  table; the ``1/c`` and ``c`` around a final logit soft-cap's tanh);
* **index arithmetic and masks**: any operation with an integer or boolean result (positions,
  causal and padding masks);
* **position tables** (context ``position``, a ``*RotaryEmbedding`` module): cos/sin tables are
  functions of the positions only, constants like weights;
* **RoPE and query scalings** (context ``attention``, an attention module holding a spiking
  core, outside its operators): fixed linear maps of the projection outputs (``R_p W q``, a
  scalar times ``W q``), folded into the projection weights as scalar scalings are.

Priced (:data:`PRICES`): in a block, a float ``add`` (the residual stream: a sum of trains) is
one AC per output element; outside the blocks, ``add`` (embedding sums) one AC per element, a
``convolution`` (a patch embedding on raw pixels) its MACs, ``tanh`` (a pooler; Gemma 2's final
logit soft-cap on the head's output) one float function per element.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.hooks import RemovableHandle

from las.energy.rules import in_block

#: ATen operations that move, view, cast, create or look up data: free on both sides (with the
#: composite forms ``inference_mode`` keeps undecomposed: ``reshape``, ``to``, ``flatten``;
#: ``dropout`` is the identity in evaluation).
MOVES = frozenset(
    {
        "_to_copy",
        "_unsafe_view",
        "alias",
        "arange",
        "cat",
        "chunk",
        "clone",
        "contiguous",
        "copy_",
        "detach",
        "detach_",
        "dropout",
        "embedding",
        "empty",
        "empty_like",
        "expand",
        "expand_as",
        "fill_",
        "flatten",
        "full",
        "full_like",
        "gather",
        "index",
        "index_select",
        "is_nonzero",
        "lift_fresh",
        "lift_fresh_copy",
        "narrow",
        "new_empty",
        "new_ones",
        "new_zeros",
        "ones",
        "ones_like",
        "permute",
        "repeat",
        "repeat_interleave",
        "reshape",
        "reshape_as",
        "select",
        "slice",
        "split",
        "split_with_sizes",
        "squeeze",
        "stack",
        "t",
        "to",
        "transpose",
        "unbind",
        "unflatten",
        "unsqueeze",
        "view",
        "view_as",
        "zeros",
        "zeros_like",
    }
)
#: Float results selected by a 0/1 mask: free.
SELECTIONS = frozenset({"where", "masked_fill"})
#: Operations that are a scalar scaling when one operand is a scalar: free (folded).
SCALINGS = frozenset({"mul", "div"})
#: Contexts whose float arithmetic is free by convention (module docstring): the operations
#: allowed there (None: any; a position table reads positions only) and why.
FOLDED: dict[str, tuple[frozenset[str] | None, str]] = {
    "position": (None, "a position table: a function of positions only, a constant"),
    "attention": (
        frozenset({"mul", "add", "neg"}),
        "RoPE or a query scaling: a fixed linear map folded into the projection weights",
    ),
}


def folded(context: str, name: str) -> str | None:
    """Why operation ``name`` is free by folding in ``context``, or None."""
    if context not in FOLDED:
        return None
    ops, reason = FOLDED[context]
    return reason if ops is None or name in ops else None


@dataclass(frozen=True)
class Price:
    """How one priced operation counts: ``kind`` ``"ac"``, ``"mac"`` or ``"function"`` per output
    element (``"mac"``: times the MACs per output element, the weight's fan-in), in
    ``layer_type``."""

    kind: Literal["ac", "mac", "function"]
    layer_type: str


#: (context, ATen operation) -> its price (module docstring).
PRICES = {
    ("block", "add"): Price("ac", "residual"),
    ("model", "add"): Price("ac", "embedding"),
    ("model", "convolution"): Price("mac", "embedding"),
    ("model", "conv2d"): Price("mac", "embedding"),
    ("model", "tanh"): Price("function", "linear"),
}


def is_scalar(value: Any) -> bool:
    """A Python number or a 0-d tensor."""
    return isinstance(value, int | float) or (isinstance(value, Tensor) and value.dim() == 0)


def free_reason(name: str, out: Any, args: tuple = ()) -> str | None:
    """Why the ATen operation ``name`` on ``args`` with result ``out`` is free anywhere, or None."""
    if name in MOVES:
        return "data movement"
    if name in SELECTIONS:
        return "a 0/1 mask"
    scalar = args[1:] if name == "div" else args  # a quotient by a scalar, not of one (1/x)
    if name in SCALINGS and len(args) == 2 and any(is_scalar(a) for a in scalar):
        return "a scalar scaling, folded into the weights or the next threshold"
    first = out[0] if isinstance(out, tuple | list) and out else out
    if isinstance(first, Tensor) and not first.is_floating_point():
        return "index arithmetic or a mask (an integer or boolean result)"
    return None


def context_of(stack: list[tuple[str, nn.Module]]) -> str:
    """``position``, ``attention``, ``block`` or ``model``: where the innermost module is."""
    if any(type(m).__name__.endswith("RotaryEmbedding") for _, m in stack):
        return "position"
    if any(hasattr(m, "las_core") for _, m in stack):
        return "attention"
    return "block" if in_block(stack[-1][0]) else "model"


def work(price: Price, args: tuple, out: Tensor) -> tuple[str, int]:
    """(the SiteCost field, its count) of one priced operation (``args[1]``: a convolution's
    weight ``[out, in / groups, *kernel]``, whose ``weight[0]`` is one output's fan-in)."""
    if price.kind == "mac":
        return "ann_macs", out.numel() * args[1][0].numel()
    return {"ac": "ann_acs", "function": "ann_functions"}[price.kind], out.numel()


#: Receives (context path, ATen operation, price, SiteCost field, count).
Record = Callable[[str, str, Price, str, int], None]


class OutsideLedger(TorchDispatchMode):
    """Prices every ATen operation run while active (see the module docstring).

    ``stack`` holds ``(path, module)`` of the modules being run, innermost last; ``record``
    receives each priced operation. An operation neither priced nor free raises ``ValueError``.
    """

    def __init__(self, record: Record) -> None:
        super().__init__()
        self.record, self.stack = record, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if free_reason(name, out, args) is None and self.stack:
            context, path = context_of(self.stack), self.stack[-1][0]
            price = PRICES.get((context, name))
            if price is None and folded(context, name) is None:
                raise ValueError(
                    f"ATen operation {name!r} at {path or 'the model'} (context {context!r}) is "
                    "neither priced nor free in the energy ledger (METHOD.md M8 addendum): "
                    "price it or list it with its convention in las/energy/ledger.py"
                )
            if price is not None:
                self.record(path, name, price, *work(price, args, out))
        return out


@contextmanager
def watching(
    model: nn.Module, priced: Callable[[nn.Module], bool], record: Record
) -> Iterator[OutsideLedger]:
    """Within the block, every forward of ``model`` runs under an :class:`OutsideLedger`,
    switched off inside the modules for which ``priced`` is true (their rules count them)."""
    ledger = OutsideLedger(record)
    active = False

    def switch(on: bool) -> None:
        nonlocal active
        if on and not active:
            ledger.__enter__()
        elif active and not on:
            ledger.__exit__(None, None, None)
        active = on

    def enter(path: str, module: nn.Module) -> None:
        if module is model:
            ledger.stack.clear()
        ledger.stack.append((path, module))
        switch(not priced(module))

    def leave(module: nn.Module) -> None:
        ledger.stack.pop()
        switch(bool(ledger.stack))  # back in an unpriced module (priced ones hold no hooks)

    handles: list[RemovableHandle] = []
    try:
        for path, module in _context_modules(model, priced):
            handles.append(module.register_forward_pre_hook(lambda m, a, p=path: enter(p, m)))
            handles.append(module.register_forward_hook(lambda m, a, o: leave(m)))
        yield ledger
    finally:
        switch(False)
        for handle in handles:
            handle.remove()


def _context_modules(
    model: nn.Module, priced: Callable[[nn.Module], bool]
) -> list[tuple[str, nn.Module]]:
    """Every module outside the priced ones, and the priced ones themselves (not their insides).

    ``named_modules`` walks depth first, so a priced module's insides follow it directly.
    """
    if priced(model):
        return [("", model)]
    chosen, skip = [], None
    for path, module in model.named_modules():
        if skip is not None and path.startswith(skip):
            continue
        chosen.append((path, module))
        skip = f"{path}." if priced(module) else None
    return chosen
