"""Stage ``calibrate``: thresholds for every OAT and score site; statistics of another model
refused."""

from __future__ import annotations

import pandas as pd
import pytest

from las.artifacts import ArtifactMismatchError
from tests.stage_chain import run_stage


def test_thresholds_cover_every_oat_and_score_site(chain):
    sites = pd.read_csv(chain.dir("collect") / "sites.csv")
    thresholds = pd.read_csv(chain.dir("calibrate") / "thresholds.csv")
    assert set(thresholds["site"]) == set(sites.loc[sites["kind"].isin(["oat", "score"]), "site"])
    assert sites["site"].str.endswith("las_core.score").any()
    assert (thresholds["theta_nor"] < thresholds["theta_out"]).all()


def test_statistics_of_another_model_are_refused(chain, tmp_path):
    stats = f"stats={chain.dir('collect') / 'stats.safetensors'}"
    with pytest.raises(
        ArtifactMismatchError, match=r"collect model = .*tiny_llama.*rerun 'collect'"
    ):
        run_stage("calibrate", "model=tiny_gpt2", stats, f"output_dir={tmp_path / 'c'}")
    assert not (tmp_path / "c").exists()


def test_missing_statistics_name_the_stage(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the 'collect' stage"):
        run_stage("calibrate", f"stats={tmp_path}/none.safetensors", f"output_dir={tmp_path}/o")
