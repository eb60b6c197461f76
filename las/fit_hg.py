"""Stage ``fit_hg``: fit the HG neuron bank and write its error tables (``python -m las.fit_hg``).

Ranges come from the collected statistics (``stats``), or from the ``hg`` group when
``stats=null``. Outputs in ``output_dir``: ``hg_bank.safetensors``, ``hg_errors.csv`` (dense
grid over each range), ``hg_sample_errors.csv`` (on collected activations, when stats are given)
and ``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from las import stage
from las.artifacts import Identity
from las.calibration.ranges import hg_ranges
from las.calibration.store import load_stats
from las.hg_bank import HGSpec, fit_bank, sample_errors, save_bank
from las.provenance import config_hash
from las.tracking import record_stage


def run(cfg: DictConfig) -> Path:
    """Fit the bank as configured; return the output folder."""
    out = stage.output_dir(cfg)
    settings = {k: cfg.hg[k] for k in ("K", "tolerance", "max_segments")}
    if cfg.stats is None:
        specs = {name: HGSpec(float(r.low), float(r.high)) for name, r in cfg.hg.functions.items()}
        identity = Identity("none", "none", config_hash(stage.as_dict(cfg.hg)))
        samples = {}
    else:
        spec = stage.model_spec(cfg.model)
        collected = load_stats(Path(cfg.stats), model_id=stage.expected_model_id(spec))
        specs, samples = hg_ranges(collected.stats, collected.roles), collected.samples
        digest = config_hash({"stats": collected.identity.config_hash, "hg": settings})
        identity = Identity(collected.identity.model_id, collected.identity.revision, digest)
    neurons, table = fit_bank(specs, **settings)
    save_bank(neurons, out / "hg_bank.safetensors", identity)
    table.to_csv(out / "hg_errors.csv", index=False)
    on_samples = sample_errors(neurons, samples)
    tables, artifacts = {"hg_errors": table}, [out / "hg_bank.safetensors", out / "hg_errors.csv"]
    if samples:
        on_samples.to_csv(out / "hg_sample_errors.csv", index=False)
        tables["hg_sample_errors"] = on_samples
        artifacts.append(out / "hg_sample_errors.csv")
    fields = {
        "model_id": identity.model_id,
        "all_met": bool(table["met"].all()),
        "functions": table.to_dict(orient="records"),
        "on_samples": on_samples.to_dict(orient="records"),
    }
    record_stage(out, "fit_hg", cfg, identity.config_hash, fields, tables, artifacts)
    return out


@hydra.main(config_path="../conf", config_name="fit_hg", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
