"""The tables stage gives the same reports from the local records and from W&B."""

from __future__ import annotations

import pandas as pd
import pytest
import wandb

from las import tables
from tests.wandb_recorded import RecordedApi, isolate_wandb, write_twins

EVALUATIONS = ("r5t8w2e3", "b2n6v8e4")


@pytest.fixture
def records(tmp_path, monkeypatch):
    """Local records of the recorded evaluate runs; wandb.Api answers from the recording."""
    isolate_wandb(tmp_path, monkeypatch)
    monkeypatch.setattr(wandb, "Api", RecordedApi)
    return [str(p) for p in write_twins(tmp_path / "results", monkeypatch, EVALUATIONS)]


def test_local_and_wandb_sources_give_identical_reports(records, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE")
    tables.main(["--out", str(tmp_path / "local"), *records])
    monkeypatch.setenv("WANDB_MODE", "online")  # the default source becomes W&B
    tables.main(["--out", str(tmp_path / "online"), *records])
    for name in ("fidelity.csv", "fidelity.md", "fidelity.tex"):
        local, online = (tmp_path / d / name for d in ("local", "online"))
        assert local.read_text() == online.read_text(), name


def test_fidelity_table_columns_and_values(records, tmp_path):
    tables.main(["--out", str(tmp_path), "--source", "local", *records])
    table = pd.read_csv(tmp_path / "fidelity.csv")
    known = [c for c in (*tables.IDENTITY, *tables.METRICS) if c in table.columns]
    assert list(table.columns) == [*known, "asset"]
    assert list(table["model"]) == ["tiny_bert", "tiny_llama"]
    llama = table.set_index("model").loc["tiny_llama"]
    assert llama["perplexity_ratio"] == 1.0004116300186398 and llama["asset"] == "tiny-llama"
    markdown = (tmp_path / "fidelity.md").read_text()
    assert "### Causal LMs" in markdown and "### Encoders" in markdown


def test_the_baseline_table_puts_every_method_beside_the_ann(baselines, chain, tmp_path):
    """LAS, FAS and naive at equal T: fidelity and energy from evaluate, task deltas with CIs."""
    from tests.stage_chain import run_stage

    evaluate = [o for o in chain.overrides("evaluate") if not o.startswith(("output", "conv"))]
    tasks = [o for o in chain.overrides("evaluate_tasks") if not o.startswith(("output", "conv"))]
    records, task_records = [], []
    for method in ("fas", "naive"):
        folder = f"converted={baselines.dir(f'convert_{method}')}"
        out = tmp_path / "results" / "tiny" / "tiny_llama"
        done = run_stage("evaluate", *evaluate, folder, f"output_dir={out}/evaluate/{method}/T4")
        records.append(str(done / "metrics.json"))
        done = run_stage(
            "evaluate_tasks",
            *tasks,
            f"method={method}",
            folder,
            f"output_dir={out}/evaluate_tasks/{method}/T4/embedded",
        )
        task_records.append(str(done / "metrics.json"))
    finetune = str(baselines.dir("finetune_qcfs") / "metrics.json")
    tables.main(
        [
            "--out",
            str(tmp_path / "r"),
            "--tasks",
            *task_records,
            "--finetune",
            finetune,
            "--",
            *records,
        ]
    )
    table = pd.read_csv(tmp_path / "r" / "baselines.csv")
    assert list(table["method"]) == ["ANN", "fas", "naive"]
    ann, fas, naive = (row for _, row in table.iterrows())
    assert ann["energy_ratio"] == 1.0 and ann["spiking_parts"] == "nothing (the ANN)"
    assert fas["fine-tuning"] == "3 steps, 192 tokens" and naive["fine-tuning"] == "-"
    cell = "las_sentiment acc delta [95% CI]"
    rows = pd.read_csv(
        tmp_path / "results/tiny/tiny_llama/evaluate_tasks/fas/T4/embedded/tasks.csv"
    )
    (row,) = rows[(rows["task"] == "las_sentiment") & (rows["metric"] == "acc")].itertuples()
    assert fas[cell] == f"{row.delta:+.4g} [{row.delta_ci_low:+.4g}, {row.delta_ci_high:+.4g}]"
    assert fas["las_sentiment acc verdict"] == row.verdict


#: (folder, ablation, method, code, T, allocation, energy, perplexity ratio, top-1): frontier
#: points of one causal LM, and two records that are not on it (an ablated switch, a scale).
FRONTIER = [
    ("mse", "full", "las", "binary", 16, None, 1.36, 1.0, 1.0),
    ("mse", "T8", "las", "binary", 8, None, 0.53, 1.04, 0.84),
    ("mse", "naf", "las", "naf", 16, None, 1.02, 1.0, 1.0),
    ("mse_kl005", "naf", "las", "naf", 16, "kl<=0.005", 0.49, 1.003, 0.995),
    ("mse_kl005", "full", "las", "binary", 16, "kl<=0.005", 0.58, 1.004, 0.974),
    ("fas", "T8", "fas", "binary", 8, None, 1.0, 56.0, 0.13),
    ("fas", "T16", "fas", "binary", 16, None, 1.0, 48.0, 0.13),
    ("naive", "T8", "naive", "binary", 8, None, 0.2, 3e5, 0.007),
]
OFF_FRONTIER = [("mse", "no_oat", {"oat": False}), ("mse", "scale2", {"threshold_scale": 2.0})]


def frontier_record(root, folder, ablation, fields) -> str:
    """An evaluate ``metrics.json`` of tiny_llama in the results layout."""
    import json

    out = root / "exp" / "tiny_llama" / "evaluate" / folder / ablation
    out.mkdir(parents=True)
    base = {"oat": True, "hg": True, "spike_attention": True, "threshold_scale": 1.0}
    record = {"stage": "evaluate", "config": {"experiment": "exp"}, "config_hash": out.name}
    base |= {"model": "tiny_llama", "model_id": "tiny-llama", "task": "causal_lm"}
    base |= {"ablation": ablation, "calibration": "mse" if folder.startswith("mse") else folder}
    (out / "metrics.json").write_text(json.dumps(record | base | fields))
    return str(out / "metrics.json")


def test_the_frontier_table_holds_every_point_from_the_records(tmp_path):
    root = tmp_path / "results"
    paths = []
    for folder, ablation, method, code, T, allocation, energy, ppl, top1 in FRONTIER:
        fields = {"method": method, "code": code, "T": T, "energy_ratio": energy}
        fields |= {"perplexity_ratio": ppl, "top1_agreement": top1}
        paths.append(
            frontier_record(
                root, folder, ablation, fields | ({"allocation": allocation} if allocation else {})
            )
        )
    for folder, ablation, switch in OFF_FRONTIER:
        fields = {"method": "las", "code": "binary", "T": 16, "energy_ratio": 0.1}
        fields |= {"perplexity_ratio": 1.0, "top1_agreement": 1.0} | switch
        paths.append(frontier_record(root, folder, ablation, fields))
    tables.main(["--out", str(tmp_path / "reports"), *paths])
    table = pd.read_csv(tmp_path / "reports" / "frontier.csv")
    assert len(table) == len(FRONTIER)  # the ablated switch and the scale are not on it
    assert list(table["energy_ratio"]) == sorted(p[6] for p in FRONTIER)
    rows = {
        (r.ablation, r.allocation if isinstance(r.allocation, str) else None, r.method): r
        for r in table.itertuples()
    }
    assert rows[("naf", None, "las")].series == "LAS naf"
    assert rows[("full", None, "las")].series == "LAS binary"
    assert rows[("T8", None, "las")].series == "LAS binary"
    assert rows[("T8", None, "fas")].series == "FAS" and pd.isna(rows[("T8", None, "fas")].code)
    assert rows[("naf", "kl<=0.005", "las")].series == "LAS naf + allocation"
    assert rows[("full", "kl<=0.005", "las")].series == "LAS binary + allocation"
    # Pareto among the points within the fidelity bounds: the allocated naf point and uniform
    # naf (exact top-1, lowest perplexity ratio, cheaper than binary) survive; binary does not,
    # and naive (cheapest, perplexity ratio 3e5), T8 and the other baselines are no candidates
    pareto = {(r.ablation, r.series) for r in table.itertuples() if r.pareto}
    assert pareto == {("naf", "LAS naf + allocation"), ("naf", "LAS naf")}
    within = {(r.ablation, r.series) for r in table.itertuples() if r.within_fidelity}
    assert within == pareto | {("full", "LAS binary")}
    assert list(table.loc[table["meets_goal"], "series"]) == ["LAS naf + allocation"]
    for _, ablation, method, _, _, allocation, energy, ppl, top1 in FRONTIER:  # copied as is
        row = rows[(ablation, allocation, method)]
        assert (row.energy_ratio, row.perplexity_ratio, row.top1_agreement) == (energy, ppl, top1)
    assert "### Energy against fidelity" in (tmp_path / "reports" / "frontier.md").read_text()
    # an allocated record is not LAS at its T in the baseline table
    baselines = pd.read_csv(tmp_path / "reports" / "baselines.csv")
    las = baselines[baselines["method"] == "las"]
    assert sorted(las["energy_ratio"]) == [0.53, 1.36]
