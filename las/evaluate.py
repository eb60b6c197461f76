"""Stage ``evaluate``: the converted model next to the original (``python -m las.evaluate``).

Reads a converted-model folder (the ``convert`` stage) and compares it with the original on
held-out text. Outputs in ``output_dir``: ``metrics.json`` (fidelity: perplexity ratio and top-1
agreement for causal LMs, hidden-state error and embedding cosine for encoders; HG inputs
clamped; the energy ratio ``E_SNN / E_ANN``), ``spikes.csv`` (exact spike, SOP and MAC counts and
energies per site, :func:`las.energy.site_table`) and ``fidelity.csv`` (one row). The row's
labels (calibration rule, ablation, switches, artifact hashes) come from the converted folder.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd

from las import data
from las.config import Str, plain, typed
from las.converted import CALIBRATION_TEXT, MANIFEST, ConvertedModel, method_of
from las.energy import EnergyConfig, count_spikes, energy_ratio, site_table
from las.fidelity import compare_causal, compare_encoder
from las.models import ModelSpec
from las.neurons import HGNeuron
from las.stage import Input, StageConfig, StageContext, StageResult, entry_point


@typed
class EvaluateConfig(StageConfig, stage="evaluate", paths=("converted",)):
    """``conf/evaluate.yaml``: the converted model, the held-out text, the energy constants.

    ``data`` must split documents as the stages that read the calibration text did (checked:
    ``collect``; for FAS ``finetune_qcfs`` and ``calibrate_fas``): evaluation text is then never
    calibration text.
    """

    model: ModelSpec
    data: data.DataConfig
    energy: EnergyConfig
    converted: Str

    def inputs(self) -> dict[str, Input]:
        expect = {"convert.model": plain(self.model)}
        for stage in CALIBRATION_TEXT.get(method_of(self.converted), ("collect",)):
            expect |= {f"{stage}.data.{k}": v for k, v in self.data.split_key().items()}
        return {"converted": Input(Path(self.converted) / MANIFEST, "convert", expect)}


def run(cfg: EvaluateConfig, ctx: StageContext) -> StageResult:
    """Evaluate as configured."""
    converted = ConvertedModel.read(cfg.converted)
    loaded = converted.load_original()
    snn = converted.apply(copy.deepcopy(loaded.model))
    batches = data.evaluation_batches(loaded.tokenizer, cfg.data, cfg.model.task)
    compare = compare_causal if cfg.model.task == "causal_lm" else compare_encoder
    with count_spikes(snn) as counts:
        fidelity = compare(loaded.model, snn, batches)
    sites = site_table(counts, cfg.energy)
    clamped = sum(int(m.n_clamped) for m in snn.modules() if isinstance(m, HGNeuron))
    row = {
        "model": cfg.model.name,
        "task": cfg.model.task,
        "model_id": loaded.model_id,
        "revision": loaded.revision,
        "method": converted.method,
        **converted.labels,
        **plain(converted.conversion),
        **fidelity,
        "energy_ratio": energy_ratio(sites),
        "hg_inputs_clamped": clamped,
    }
    tables = {"fidelity": pd.DataFrame([row]), "spikes": sites}
    return StageResult(row, tables, ["fidelity.csv", "spikes.csv"])


main = entry_point(EvaluateConfig, run)

if __name__ == "__main__":
    main()
