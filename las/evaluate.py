"""Stage ``evaluate``: the converted model next to the original (``python -m las.evaluate``).

Outputs in ``output_dir``: ``metrics.json`` (fidelity on held-out text: perplexity ratio and
top-1 agreement for causal LMs, hidden-state error and embedding cosine for encoders; HG inputs
clamped; the energy ratio ``E_SNN / E_ANN``), ``spikes.csv`` (exact spike, SOP and MAC counts and
energies per site, :func:`las.energy.site_table`) and ``fidelity.csv`` (one row).
"""

from __future__ import annotations

from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from las import data, models, stage
from las.calibration.store import load_thresholds
from las.conversion import Calibration, convert
from las.energy import EnergyConfig, count_spikes, energy_ratio, site_table
from las.fidelity import compare_causal, compare_encoder
from las.hg_bank import load_bank
from las.neurons import HGNeuron
from las.provenance import config_hash
from las.tracking import record_stage


def run(cfg: DictConfig) -> Path:
    """Evaluate as configured; return the output folder."""
    out = stage.output_dir(cfg)
    spec = stage.model_spec(cfg.model)
    loaded = models.load(spec)
    ident = {"model_id": loaded.model_id, "revision": loaded.revision}
    thresholds, t_identity = load_thresholds(Path(cfg.thresholds), **ident)
    bank, b_identity = load_bank(Path(cfg.bank), **ident)
    conversion = stage.conversion_config(cfg.conversion)
    snn = convert(loaded.model, Calibration(thresholds, bank), conversion)
    batches = data.evaluation_batches(loaded.tokenizer, stage.as_dict(cfg.data), spec.task)
    compare = compare_causal if spec.task == "causal_lm" else compare_encoder
    with count_spikes(snn) as counts:
        fidelity = compare(loaded.model, snn, batches)
    energy = EnergyConfig(**stage.as_dict(cfg.energy))
    sites = site_table(counts, energy)
    sites.to_csv(out / "spikes.csv", index=False)
    clamped = sum(int(m.n_clamped) for m in snn.modules() if isinstance(m, HGNeuron))
    row = {
        "model": spec.name,
        "task": spec.task,
        **ident,
        "method": "las",
        "calibration": cfg.calibration.name,
        "ablation": cfg.ablation,
        "T": conversion.T,
        "mode": conversion.mode.value,
        "oat": conversion.oat,
        "hg": conversion.hg,
        "spike_attention": conversion.spike_attention,
        "threshold_scale": conversion.threshold_scale,
        "thresholds_hash": t_identity.config_hash,
        "bank_hash": b_identity.config_hash,
        **fidelity,
        "energy_ratio": energy_ratio(sites),
        "hg_inputs_clamped": clamped,
    }
    pd.DataFrame([row]).to_csv(out / "fidelity.csv", index=False)
    digest = config_hash(
        {
            "thresholds": t_identity.config_hash,
            "bank": b_identity.config_hash,
            **{k: stage.as_dict(cfg[k]) for k in ("data", "conversion", "energy")},
        }
    )
    record_stage(
        out,
        "evaluate",
        cfg,
        digest,
        row,
        tables={"fidelity": pd.DataFrame([row]), "spikes": sites},
        artifacts=[out / "fidelity.csv", out / "spikes.csv"],
    )
    return out


@hydra.main(config_path="../conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
