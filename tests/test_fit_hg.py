"""Stage ``fit_hg``: the bank and both error tables, every declared output present."""

from __future__ import annotations

import pandas as pd

from las.artifacts import read_identity


def test_fit_hg_writes_the_bank_and_both_error_tables(chain):
    out = chain.dir("fit_hg")
    grid = pd.read_csv(out / "hg_errors.csv")
    samples = pd.read_csv(out / "hg_sample_errors.csv")
    assert grid["met"].all() and set(samples["function"]) <= set(grid["function"])
    lineage = read_identity(out / "hg_bank.safetensors", "fit_hg").lineage
    assert set(lineage) == {"collect", "fit_hg"}
