"""The spike trains a converted model's spike mode runs (METHOD.md M6), recorded as they happen.

:func:`record_trains` wraps :meth:`SpikingNeuron.simulate` of the chosen neurons: every step a
spike-mode forward (or :meth:`SpikingNeuron.spikes`) consumes is also kept, so a raster drawn
from the record shows the trains the model ran, not trains rebuilt afterwards.
:func:`raster_events` turns them into one row per spike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor, nn

from las.neurons.base import SpikingNeuron


@dataclass
class Train:
    """One simulated train: the neuron, its input, its weighted outputs and where it fired, each
    ``[steps, *x.shape]`` (outputs float64; index ``i`` is time step ``first_step + i``)."""

    neuron: SpikingNeuron
    x: Tensor
    outputs: Tensor
    fired: Tensor

    @property
    def first_step(self) -> int:
        return self.neuron.first_step


@contextmanager
def record_trains(model: nn.Module, prefix: str) -> Iterator[dict[str, list[Train]]]:
    """Record every train the neurons of ``model`` named ``prefix...`` simulate while inside.

    Yields ``module name -> [Train per simulated call]`` (filled as the model runs); the neurons
    compute exactly as without the record. Spike mode streams a train to each of its consumers
    (:mod:`las.ops.stream`): a neuron simulated again on the very input it just recorded runs
    the same train once more, which is not recorded twice. ``ValueError`` when no neuron matches
    ``prefix``.
    """
    neurons = {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, SpikingNeuron) and name.startswith(prefix)
    }
    if not neurons:
        raise ValueError(f"no spiking neuron of the model is named {prefix!r}...: pick a block")
    trains: dict[str, list[Train]] = {name: [] for name in neurons}
    last: dict[str, Tensor] = {}  # each neuron's last recorded input

    def recording(name: str, neuron: SpikingNeuron):
        original = neuron.simulate

        def simulate(x: Tensor, fired: bool = True) -> Iterator[tuple[Tensor, Tensor | None]]:
            if last.get(name) is x:  # the same train read again by a second consumer
                yield from original(x, fired)
                return
            outputs, spikes = [], []
            for out, mask in original(x):  # masks recorded whether the caller asks or not
                outputs.append(out.double())
                spikes.append(mask)
                yield out, mask
            trains[name].append(
                Train(neuron, x.detach(), torch.stack(outputs), torch.stack(spikes))
            )
            last[name] = x

        return simulate

    for name, neuron in neurons.items():
        neuron.simulate = recording(name, neuron)  # an instance attribute shadows the method
    try:
        yield trains
    finally:
        for neuron in neurons.values():
            del neuron.simulate


def raster_events(
    trains: dict[str, list[Train]], prefix: str, tokens: int, channels: int
) -> pd.DataFrame:
    """One row per spike (a step where the neuron fired) of the first call of each recorded
    neuron: ``kind`` (its name after ``prefix``), ``step`` (time step), ``token`` (index along
    the token axis, the one before the last: ``[batch, token, channel]`` and ``[batch, head,
    token, channel]`` alike), ``channel`` (index along the last axis) and ``sign`` (+1, -1), for
    the first ``tokens`` tokens and ``channels`` channels of the first batch row (and head).
    Kinds keep the model's order."""
    rows = []
    for name, calls in trains.items():
        if not calls or calls[0].outputs.dim() < 3:
            continue
        train = calls[0]
        index = (
            slice(None),
            *(0,) * (train.outputs.dim() - 3),
            slice(0, tokens),
            slice(0, channels),
        )
        window = train.outputs[index]
        step, token, channel = train.fired[index].nonzero(as_tuple=True)
        rows.append(
            pd.DataFrame(
                {
                    "kind": name.removeprefix(prefix).replace(".neurons.", "."),
                    "step": (step + train.first_step).tolist(),
                    "token": token.tolist(),
                    "channel": channel.tolist(),
                    "sign": torch.sign(window[step, token, channel]).long().tolist(),
                }
            )
        )
    columns = ["kind", "step", "token", "channel", "sign"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)
