"""Stage ``collect``: statistics with the identity and lineage of the run that made them."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

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


def test_sequential_collect_writes_the_whole_model_artifact(tmp_path):
    from safetensors.torch import load_file

    from tests.stage_chain import SMALL_DATA, run_stage

    common = ("model=tiny_gpt2", "tracking=disabled", *SMALL_DATA)
    whole = run_stage("collect", *common, f"output_dir={tmp_path / 'whole'}")
    layered = run_stage("collect", *common, "sequential=true", f"output_dir={tmp_path / 'layered'}")
    a, b = (load_file(d / "stats.safetensors") for d in (whole, layered))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (layered / ".collect.layers").exists()


def test_collect_refuses_a_device_without_sequential_or_no_device():
    from las.collect import CollectConfig
    from las.config import ConfigError
    from las.stage import load_config
    from tests.stage_chain import compose_stage

    for bad, match in (("device=cuda", "needs sequential=true"), ("device=gpu0", "no torch")):
        with pytest.raises(ConfigError, match=match):
            load_config(CollectConfig, compose_stage("collect", "model=tiny_gpt2", bad))
