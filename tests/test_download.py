"""Stage ``download``: the manifest and record of a tiny model (embedded assets: test_assets)."""

from __future__ import annotations

import json


def test_download_records_the_model(chain):
    manifest = json.loads((chain.dir("download") / "manifest.json").read_text())
    assert manifest["source"] == "tiny" and manifest["files"] == {}
    record = json.loads((chain.dir("download") / "metrics.json").read_text())
    assert record["stage"] == "download" and record["id"] == "llama"
    assert record["identity_config"]["model"]["name"] == "tiny_llama"
    assert record["git_commit"] is not None and record["versions"]["torch"].startswith("2.13")
