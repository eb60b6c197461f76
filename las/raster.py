"""Stage ``raster``: the spike trains of one block for a few tokens (``python -m las.raster``).

Reads a converted-model folder (the ``convert`` stage), runs it in spike mode (METHOD.md M6:
every neuron simulated step by step) on the first ``tokens`` tokens of the first held-out
sequence, and records the trains every neuron of block ``layer`` ran
(:func:`las.neurons.record.record_trains`). Outputs in ``output_dir``: ``raster.csv``, one row
per spike (:func:`las.neurons.record.raster_events`: site kind, step, token, channel, sign) of
the first ``channels`` channels, which the ``figures`` stage draws as ``raster_<model>`` (one
panel per site kind); ``sites.csv``, per site kind the spikes of its whole train and the count
of the neurons' closed form on the same input; ``metrics.json``, their totals and whether they
agree at every MT/OAT site (``trains_match_counts``).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import torch

from las import data
from las.config import NonNegativeInt, PositiveInt, Str, plain, typed
from las.converted import CALIBRATION_TEXT, MANIFEST, ConvertedModel, method_of
from las.models import ModelSpec
from las.modes import Mode
from las.neurons import MTNeuron
from las.neurons.record import raster_events, record_trains
from las.ops import set_mode
from las.stage import Input, StageConfig, StageContext, StageResult, entry_point


@typed
class RasterConfig(StageConfig, stage="raster", paths=("converted",)):
    """``conf/raster.yaml``: the converted folder, the held-out text, the block and window.

    ``data`` must split documents as ``collect`` did (checked), as for ``evaluate``.
    """

    model: ModelSpec
    data: data.DataConfig
    converted: Str
    layer: NonNegativeInt
    tokens: PositiveInt
    channels: PositiveInt

    def inputs(self) -> dict[str, Input]:
        self.model.require_task("causal_lm", "raster", "draws the blocks of a causal LM")
        expect = {"convert.model": plain(self.model)}
        for stage in CALIBRATION_TEXT.get(method_of(self.converted), ("collect",)):
            expect |= {f"{stage}.data.{k}": v for k, v in self.data.split_key().items()}
        return {"converted": Input(Path(self.converted) / MANIFEST, "convert", expect)}


def run(cfg: RasterConfig, ctx: StageContext) -> StageResult:
    """Record block ``cfg.layer`` in spike mode and write its raster."""
    converted = ConvertedModel.read(cfg.converted)
    loaded = converted.load_original()
    snn = converted.apply(copy.deepcopy(loaded.model))
    set_mode(snn, Mode.SPIKE)
    batch = data.evaluation_batches(loaded.tokenizer, cfg.data, cfg.model.task)[0]
    ids = batch["input_ids"][:1, : cfg.tokens]
    prefix = f"{_blocks(snn)}.{cfg.layer}."
    with record_trains(snn, prefix) as trains, torch.inference_mode():
        snn(input_ids=ids)
    events = raster_events(trains, prefix, cfg.tokens, cfg.channels)
    sites = pd.DataFrame(
        [
            {
                "kind": name.removeprefix(prefix).replace(".neurons.", "."),
                "neuron": type(train.neuron).__name__,
                "bit_serial": isinstance(train.neuron, MTNeuron),
                "steps": train.outputs.shape[0],
                "train_spikes": int(train.fired.sum()),
                "closed_form_spikes": int(train.neuron.count(train.x).sum()),
            }
            for name, calls in trains.items()
            for train in calls[:1]
        ]
    )
    coded = sites[sites["bit_serial"]]  # MT and OAT: the closed form counts the train exactly
    match = bool((coded["train_spikes"] == coded["closed_form_spikes"]).all())
    fields = {
        "model": cfg.model.name,
        "layer": cfg.layer,
        "tokens": int(ids.shape[1]),
        "kinds": len(sites),
        "events": len(events),
        "train_spikes": int(sites["train_spikes"].sum()),
        "trains_match_counts": match,
        **converted.labels,
        **plain(converted.conversion),
    }
    tables = {"raster": events, "sites": sites}
    return StageResult(fields, tables, ["raster.csv", "sites.csv"])


def _blocks(model: torch.nn.Module) -> str:
    """The module name of the block list of a causal LM (``model.layers``, ``transformer.h``)."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.rsplit(".", 1)[-1] in ("layers", "h"):
            return name
    raise ValueError("no block list (layers or h) in the model: the raster needs one")


main = entry_point(RasterConfig, run)

if __name__ == "__main__":
    main()
