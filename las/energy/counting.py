"""Exact counts per site from a converted model's forward: the ledger of METHOD.md M8.

Every operation lands in one column: spikes into synapses (SOPs, ACs), other ACs, MACs,
comparisons and float functions, for the ANN and the SNN alike. Three sources:

* a forward pre-hook on every spiking operator records its call's arguments, and a forward hook
  on every neuron of the operator counts the neuron's work (spikes from its closed form,
  ``neuron.count``: popcounts, or for the signed-digit code, M11, its non-zero digits, a
  negative spike being a subtraction, one AC like a positive one; exact in ``fast`` mode, no
  train materialised; routing comparisons and HG offsets, :func:`las.energy.rules.neuron_work`)
  and prices it with the operator's rule (:mod:`las.energy.rules`), where fan-out and the
  replaced ANN work are known;
* linear layers left float (an unconverted head, a pooler) count their MACs in both models;
* every other operation of the forward (residual adds, embeddings, RoPE, masks) is priced or
  free by :mod:`las.energy.ledger`, whose dispatch mode runs outside the priced modules.
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
from las.energy.ledger import Price, watching
from las.energy.rules import (
    NeuronWork,
    SiteCost,
    float_linear_cost,
    layer_of,
    linear_type,
    neuron_work,
    rules_for,
)
from las.modes import Mode
from las.neurons.base import SpikingNeuron
from las.ops import SpikingOp


@dataclass
class SiteCount:
    """Running totals of one site (a neuron of an operator, a float linear layer, or an operation
    of the model's own code, :mod:`las.energy.ledger`).

    Attributes:
        kind: the module class (``OATNeuron``, ``MTNeuron``, ``HGNeuron``; ``FloatNonlinearity``
            or ``Linear`` where the site stays float) or the ATen operation (``add``).
        steps: time steps of the neuron's train (``T``; ``T + 1`` for the signed-digit code, M11;
            ``K`` for HG; 0 for a float site).
        layer: the block the site belongs to (``model.layers.3``), else its operator's path.
        layer_type: see :mod:`las.energy.rules`.
        neurons: neuron evaluations (elements) seen; 0 for a float site.
        spikes: spikes fired.
        sops: synaptic operations of those spikes (spikes times fan-out, M8): ACs.
        ann_macs, ann_acs, ann_comparisons, ann_functions: the ANN work the site replaces.
        snn_macs, snn_acs, snn_comparisons, snn_functions: the SNN's besides its SOPs (for a
            float site, the ANN's work itself).
    """

    kind: str
    steps: int
    layer: str
    layer_type: str
    neurons: int = 0
    spikes: int = 0
    sops: int = 0
    ann_macs: int = 0
    ann_acs: int = 0
    ann_comparisons: int = 0
    ann_functions: int = 0
    snn_macs: int = 0
    snn_acs: int = 0
    snn_comparisons: int = 0
    snn_functions: int = 0

    @property
    def firing_rate(self) -> float:
        """Spikes per neuron per time step (M8); 0 for a site without neurons."""
        return self.spikes / (self.neurons * self.steps) if self.neurons else 0.0

    def add(self, cost: SiteCost, work: NeuronWork | None) -> None:
        """Add one call: the neuron's ``work``, or None for a float site (its ANN work)."""
        self.ann_macs += cost.ann_macs
        self.ann_acs += cost.ann_acs
        self.ann_comparisons += cost.ann_comparisons
        self.ann_functions += cost.ann_functions
        if work is None:
            self.snn_macs += cost.ann_macs
            self.snn_acs += cost.ann_acs
            self.snn_comparisons += cost.ann_comparisons
            self.snn_functions += cost.ann_functions
            return
        self.neurons += work.spikes.numel()
        self.spikes += int(work.spikes.sum())
        self.sops += _synapses(work.spikes, cost.fanout)
        offsets = 0 if work.offsets is None else _synapses(work.offsets, cost.fanout)
        self.snn_acs += cost.snn_acs + offsets
        self.snn_comparisons += cost.snn_comparisons + work.comparisons
        self.snn_macs += cost.float_macs


def _synapses(events: Tensor, fanout: int | Tensor) -> int:
    """Events (spikes or offsets per element) times their fan-out, summed."""
    if isinstance(fanout, int):
        return int(events.sum()) * fanout
    return int((events.to(torch.int64) * fanout).sum())


@contextmanager
def count_spikes(model: nn.Module) -> Iterator[dict[str, SiteCount]]:
    """Within the block, every forward of ``model`` adds its exact counts per site.

    Yields a dict site -> :class:`SiteCount`, keyed by ``neuron.site`` (``<op path>.<role>``),
    the module path of a float linear layer, or ``<module path>.<operation>`` for the model's own
    operations (:mod:`las.energy.ledger`, added as they occur), in model order. The model must
    run in ``fast`` mode (``ValueError`` at the first operator call otherwise); a neuron outside
    every spiking operator or an operator class without a rule is a ``ValueError`` on entry, an
    operation the ledger neither prices nor frees one when it runs. While counting, each
    neuron's fused fast-mode pass also computes its counts (:attr:`SpikingNeuron.counting`), so
    a hook does not evaluate the closed form again. Hooks are removed on exit, also after an
    exception.
    """
    counts: dict[str, SiteCount] = {}
    handles: list[RemovableHandle] = []
    neurons = [m for m in model.modules() if isinstance(m, SpikingNeuron)]
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
        for neuron in neurons:  # the forward's fused pass keeps the counts its hook reads
            neuron.counting = True
        with watching(model, _priced, partial(_record_operation, counts)):
            yield counts
    finally:
        for handle in handles:
            handle.remove()
        for neuron in neurons:
            neuron.counting = False
            neuron._kept = None


def _priced(module: nn.Module) -> bool:
    """Modules counted by their rules: spiking operators and float linear layers."""
    return isinstance(module, SpikingOp) or is_linear(module)


def _record_operation(
    counts: dict[str, SiteCount], path: str, name: str, price: Price, field: str, n: int
) -> None:
    site = f"{path}.{name}" if path else name
    if site not in counts:
        counts[site] = SiteCount(name, 0, layer_of(path), price.layer_type)
    counts[site].add(SiteCost(0, **{field: n}), None)


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
            work = neuron_work(module, x) if isinstance(module, SpikingNeuron) else None
            total.add(price(x), work)

    return hook


def _watch_float_linear(
    module: nn.Module, path: str, counts: dict[str, SiteCount]
) -> RemovableHandle:
    total = counts[path] = SiteCount(type(module).__name__, 0, layer_of(path), linear_type(path))
    return module.register_forward_hook(_record(total, partial(float_linear_cost, module)))
