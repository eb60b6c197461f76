"""Exact spike, SOP and MAC counts per site from a converted model's forward (METHOD.md M1, M6, M8).

One mechanism: a forward pre-hook on every spiking operator records its call's arguments, and a
forward hook on every neuron of the operator counts the neuron's spikes and prices them with the
operator's rule (:mod:`las.energy.rules`), where the fan-out and the replaced ANN work are known.
Spikes come from each neuron's closed form (``neuron.count``: popcount of its codes; for the
signed-digit code, M11, its non-zero digits: a negative spike is a subtraction, one AC like a
positive one), so counts are exact in ``fast`` mode; no spike train is materialised. Linear
layers left float (an unconverted head, a pooler) are counted as MACs in both models.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from las.conversion.build import is_linear
from las.energy.rules import SiteCost, float_linear_cost, layer_of, linear_type, rules_for
from las.modes import Mode
from las.neurons.base import SpikingNeuron
from las.ops import SpikingOp


@dataclass
class SiteCount:
    """Running totals of one site (a neuron of an operator, or a float linear layer).

    Attributes:
        kind: the module class (``OATNeuron``, ``MTNeuron``, ``HGNeuron``; ``FloatNonlinearity``
            or ``Linear`` where the site stays float).
        steps: time steps of the neuron's train (``T``; ``T + 1`` for the signed-digit code, M11;
            ``K`` for HG; 0 for a float site).
        layer: the block the site belongs to (``model.layers.3``), else its operator's path.
        layer_type: see :mod:`las.energy.rules`.
        neurons: neuron evaluations (elements) seen; 0 for a float site.
        spikes: spikes fired.
        sops: synaptic operations of those spikes (spikes times fan-out, M8).
        ann_macs, ann_functions: the ANN's MACs and float function evaluations the site replaces.
        snn_macs, snn_functions: those still float in the SNN (all of them for a float site).
    """

    kind: str
    steps: int
    layer: str
    layer_type: str
    neurons: int = 0
    spikes: int = 0
    sops: int = 0
    ann_macs: int = 0
    ann_functions: int = 0
    snn_macs: int = 0
    snn_functions: int = 0

    @property
    def firing_rate(self) -> float:
        """Spikes per neuron per time step (M8); 0 for a site without neurons."""
        return self.spikes / (self.neurons * self.steps) if self.neurons else 0.0

    def add(self, cost: SiteCost, spikes: Tensor | None) -> None:
        """Add one call: ``spikes`` per element, or None for a float site (costs its ANN work)."""
        self.ann_macs += cost.ann_macs
        self.ann_functions += cost.ann_functions
        if spikes is None:
            self.snn_macs += cost.ann_macs
            self.snn_functions += cost.ann_functions
            return
        total = int(spikes.sum())
        self.neurons += spikes.numel()
        self.spikes += total
        fanout = cost.fanout
        self.sops += total * fanout if isinstance(fanout, int) else int((spikes * fanout).sum())
        self.snn_macs += cost.float_macs


@contextmanager
def count_spikes(model: nn.Module) -> Iterator[dict[str, SiteCount]]:
    """Within the block, every forward of ``model`` adds its exact counts per site.

    Yields a dict site -> :class:`SiteCount`, keyed by ``neuron.site`` (``<op path>.<role>``) or
    the module path of a float linear layer, in model order. The model must run in ``fast`` mode
    (``ValueError`` at the first operator call otherwise); a neuron outside every spiking operator
    or an operator class without a rule is a ``ValueError`` on entry. Hooks are removed on exit,
    also after an exception.
    """
    counts: dict[str, SiteCount] = {}
    handles: list[RemovableHandle] = []
    try:
        watched: set[int] = set()
        for path, module in model.named_modules():
            if isinstance(module, SpikingOp):
                handles += _watch_op(module, path, counts)
                watched.update(id(n) for n in module.neurons.values())
            elif is_linear(module):
                handles.append(_watch_float_linear(module, path, counts))
        for path, module in model.named_modules():
            if isinstance(module, SpikingNeuron) and id(module) not in watched:
                raise ValueError(
                    f"neuron {path!r} belongs to no spiking operator, so the fan-out of its "
                    "spikes is unknown; build converted models from las.ops operators"
                )
        yield counts
    finally:
        for handle in handles:
            handle.remove()


def _watch_op(op: SpikingOp, path: str, counts: dict[str, SiteCount]) -> list[RemovableHandle]:
    rules = rules_for(op)
    signature = inspect.signature(op.forward)
    call: dict = {}

    def remember(module: SpikingOp, args: tuple, kwargs: dict) -> None:
        if module.mode is not Mode.FAST:
            raise ValueError(
                f"energy accounting reads fast-mode closed forms (METHOD.md M6), but {path!r} "
                f"runs in {module.mode.value} mode: call las.ops.set_mode(model, 'fast') first"
            )
        call.clear()
        call.update(signature.bind(*args, **kwargs).arguments)

    handles = [op.register_forward_pre_hook(remember, with_kwargs=True)]
    for role, neuron in op.neurons.items():
        site = getattr(neuron, "site", None) or (f"{path}.{role}" if path else role)
        total = counts[site] = SiteCount(
            type(neuron).__name__,
            getattr(neuron, "steps", 0),
            layer_of(path),
            rules.layer_type(op, path, role),
        )
        price = partial(rules.cost, op, call, role)
        handles.append(neuron.register_forward_hook(_record(total, price)))
    return handles


def _record(total: SiteCount, price: Callable[[Tensor], SiteCost]):
    def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
        x = args[0]
        with torch.no_grad():
            spikes = module.count(x) if isinstance(module, SpikingNeuron) else None
            total.add(price(x), spikes)

    return hook


def _watch_float_linear(
    module: nn.Module, path: str, counts: dict[str, SiteCount]
) -> RemovableHandle:
    total = counts[path] = SiteCount(type(module).__name__, 0, layer_of(path), linear_type(path))
    return module.register_forward_hook(_record(total, partial(float_linear_cost, module)))
