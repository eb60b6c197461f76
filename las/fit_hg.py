"""Stage ``fit_hg``: fit the HG neuron bank and write its error table (``python -m las.fit_hg``).

Outputs in ``output_dir``: ``hg_bank.safetensors``, ``hg_errors.csv`` and ``metrics.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from las.hg_bank import HGSpec, fit_bank, save_bank
from las.provenance import config_hash, provenance


def run(cfg: DictConfig) -> Path:
    """Fit the bank described by ``cfg.hg`` and write the stage outputs; return the folder."""
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = {name: HGSpec(float(r.low), float(r.high)) for name, r in cfg.hg.functions.items()}
    neurons, table = fit_bank(specs, cfg.hg.K, cfg.hg.tolerance, cfg.hg.max_segments)
    digest = config_hash(cfg.hg)
    save_bank(neurons, out / "hg_bank.safetensors", {"config_hash": digest})
    table.to_csv(out / "hg_errors.csv", index=False)
    metrics = {
        "stage": "fit_hg",
        "config": OmegaConf.to_container(cfg, resolve=True),
        "config_hash": digest,
        "all_met": bool(table["met"].all()),
        "functions": table.to_dict(orient="records"),
        **provenance(),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return out


@hydra.main(config_path="../conf", config_name="fit_hg", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
