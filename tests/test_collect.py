"""Stage ``collect``: statistics with the identity and lineage of the run that made them."""

from __future__ import annotations

import json

import pandas as pd

from las.artifacts import read_identity


def test_collect_writes_statistics_with_their_lineage(chain):
    out = chain.dir("collect")
    sites = pd.read_csv(out / "sites.csv")
    assert (sites["count"] > 0).all() and set(sites["kind"]) >= {"oat", "hg"}
    identity = read_identity(out / "stats.safetensors", "collect")
    record = json.loads((out / "metrics.json").read_text())
    assert identity.model_id == "tiny-llama" and identity.config_hash == record["config_hash"]
    assert identity.lineage["collect"]["config"]["data"]["seq_len"] == 32
    assert record["tokens"] == 4 * 32 and not list(out.glob(".*partial"))
