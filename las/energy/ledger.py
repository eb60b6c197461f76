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
  constant tensors (``arange``, ``ones``, ``scalar_tensor``), dropout in evaluation, reading a
  0-d tensor to the host (``is_nonzero``, ``_local_scalar_dense``: a mask test of the float
  attention path): no arithmetic on values;
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
  core, outside its operators; and context ``float_attention``, below): fixed linear maps of the
  projection outputs (``R_p W q``, a scalar times ``W q``), folded into the projection weights
  as scalar scalings are, in every variant alike (so ``E_ANN`` of one model does not depend on
  the variant); in ``float_attention`` also the additive causal/padding mask (a 0/1 mask).

Priced (:data:`PRICES`): in a block, a float ``add`` (the residual stream: a sum of trains) is
one AC per output element; outside the blocks, ``add`` (embedding sums) one AC per element, a
``convolution`` (a patch embedding on raw pixels) its MACs, ``tanh`` (a pooler; Gemma 2's final
logit soft-cap on the head's output) one float function per element.

**Float attention** (context ``float_attention``: an attention module the converter left float,
marked ``las_float_attention``, the ``no_spike_attention`` ablation), layer type
``attention_float``, float work in both models priced exactly as the ANN side of the spiking
core (:func:`las.energy.rules.attention_cost`), so its ``E_SNN / E_ANN`` is 1 and ``E_ANN`` is
that of the full method: ``QK^T`` and ``PV`` (``matmul``/``bmm``, or inside a fused
``scaled_dot_product_attention`` kernel) ``B * H * n_q * n_k * d`` MACs each, the dense map with
masked positions included (a causal flash kernel may skip key tiles above the diagonal; the
convention does not credit that, on either side); the softmax (:func:`softmax_work`) per score
an exp (a float function), a subtraction and a sum (2 ACs) and the normalising product (a
MAC), per row its max (``n_k - 1`` comparisons) and one reciprocal (a function); Gemma 2's score
soft-cap ``tanh`` one function per score. These are the only float products inside the blocks
of that ablation (the MAC column inside blocks is zero for the full method).
"""

from __future__ import annotations

from collections import Counter
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
        "_local_scalar_dense",
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
        "scalar_tensor",
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
_ROPE = "RoPE or a query scaling: a fixed linear map folded into the projection weights"
FOLDED: dict[str, tuple[frozenset[str] | None, str]] = {
    "position": (None, "a position table: a function of positions only, a constant"),
    "attention": (frozenset({"mul", "add", "neg"}), _ROPE),
    "float_attention": (frozenset({"mul", "add", "neg"}), f"{_ROPE}; or an additive 0/1 mask"),
}


def folded(context: str, name: str) -> str | None:
    """Why operation ``name`` is free by folding in ``context``, or None."""
    if context not in FOLDED:
        return None
    ops, reason = FOLDED[context]
    return reason if ops is None or name in ops else None


@dataclass(frozen=True)
class Price:
    """How one priced operation counts (:func:`work`), in ``layer_type``. ``kind``, per output
    element: ``"ac"``, ``"function"``, ``"mac"`` (times the weight's fan-in: a convolution),
    ``"product"`` (times the contracted length: a matrix product); per call: ``"softmax"`` (over
    the scores' dim, :func:`softmax_work`), ``"attention"`` (a fused attention kernel on
    ``q, k, v``: both products and the softmax)."""

    kind: Literal["ac", "function", "mac", "product", "softmax", "attention"]
    layer_type: str


#: Fused attention kernels (``torch.nn.functional.scaled_dot_product_attention`` whole under
#: ``inference_mode``, else the backend it dispatches to); their first arguments are q, k, v.
ATTENTION_KERNELS = (
    "scaled_dot_product_attention",
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_fused_attention_overrideable",
)
_FLOAT_ATTENTION = {
    "matmul": Price("product", "attention_float"),
    "bmm": Price("product", "attention_float"),
    "softmax": Price("softmax", "attention_float"),
    "_softmax": Price("softmax", "attention_float"),
    "tanh": Price("function", "attention_float"),
} | {name: Price("attention", "attention_float") for name in ATTENTION_KERNELS}

#: (context, ATen operation) -> its price (module docstring).
PRICES = {
    ("block", "add"): Price("ac", "residual"),
    ("model", "add"): Price("ac", "embedding"),
    ("model", "convolution"): Price("mac", "embedding"),
    ("model", "conv2d"): Price("mac", "embedding"),
    ("model", "tanh"): Price("function", "linear"),
} | {("float_attention", name): price for name, price in _FLOAT_ATTENTION.items()}


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
    """``position``, ``attention``, ``float_attention``, ``block`` or ``model``: where the
    innermost module is (``float_attention``: in an attention module left float)."""
    if any(type(m).__name__.endswith("RotaryEmbedding") for _, m in stack):
        return "position"
    if any(hasattr(m, "las_core") for _, m in stack):
        return "attention"
    if any(getattr(m, "las_float_attention", False) for _, m in stack):
        return "float_attention"
    return "block" if in_block(stack[-1][0]) else "model"


def softmax_work(rows: int, n_k: int) -> dict[str, int]:
    """ANN work of a float softmax over ``rows`` rows of ``n_k`` scores, as the ANN side of the
    spiking core counts it (:func:`las.energy.rules.attention_cost`): per row a max (``n_k - 1``
    comparisons) and one reciprocal, per score a subtraction and a sum (2 ACs), an exp and the
    normalising product (1 MAC). Returns SiteCost field -> count."""
    scores = rows * n_k
    return {
        "ann_macs": scores,
        "ann_acs": 2 * scores,
        "ann_comparisons": rows * (n_k - 1),
        "ann_functions": scores + rows,
    }


def work(price: Price, args: tuple, out: Any) -> dict[str, int]:
    """SiteCost field -> count of one priced operation on ``args`` with result ``out`` (a
    convolution's weight ``args[1]`` is ``[out, in / groups, *kernel]``, ``weight[0]`` one
    output's fan-in; a matrix product contracts ``args[0]``'s last dim; a softmax runs over dim
    ``args[1]``; a fused attention kernel takes ``q [..., n_q, d]``, ``k [..., n_k, d]``,
    ``v [..., n_k, d_v]`` and computes the dense ``n_q x n_k`` map per head)."""
    match price.kind:
        case "ac":
            return {"ann_acs": out.numel()}
        case "function":
            return {"ann_functions": out.numel()}
        case "mac":
            return {"ann_macs": out.numel() * args[1][0].numel()}
        case "product":
            return {"ann_macs": out.numel() * args[0].shape[-1]}
        case "softmax":
            scores = args[0]
            n_k = scores.shape[args[1]]
            return softmax_work(scores.numel() // n_k, n_k)
        case "attention":
            q, k, v = args[:3]
            rows, n_k = q.numel() // q.shape[-1], k.shape[-2]
            products = {"ann_macs": rows * n_k * (q.shape[-1] + v.shape[-1])}
            return dict(Counter(softmax_work(rows, n_k)) + Counter(products))
    raise ValueError(f"unknown price kind {price.kind!r}")


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
                for field, count in work(price, args, out).items():
                    self.record(path, name, price, field, count)
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
