"""The figures stage draws every figure with data, from the records it is given, as PNG and PDF."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from las import figures
from las.energy import SiteCount, site_table

CAUSAL = {"T2": 2, "T4": 4, "T8": 8, "full": 16, "scale0p5": 16, "scale2": 16, "scale4": 16}
SCALES = {"scale0p5": 0.5, "scale2": 2.0, "scale4": 4.0}
ENCODER = {"T4": 4, "full": 16, "scale2": 16}  # no T2, T8, T12, scale0p5, scale4: points dropped


def evaluate_fields(task: str, ablation: str, T: int, calibration: str) -> dict:
    """The scalar fields of one evaluate record; every metric a distinct function of the run."""
    scale = SCALES.get(ablation, 1.0)
    offset = 0.0 if calibration == "mse" else 0.5  # other rules must not reach the figures
    common = {"task": task, "T": T, "ablation": ablation, "calibration": calibration}
    common |= {"threshold_scale": scale, "energy_ratio": 0.1 * scale + 0.01 * T + offset}
    if task == "causal_lm":
        metrics = {"top1_agreement": 1 - 1 / T / scale - offset, "perplexity_ratio": 1 + 8 / T}
        metrics |= {"logits_rel_error": 1 / T}
    else:
        metrics = {"hidden_rel_error": 2.0 / T * scale + offset, "embedding_cosine_min": 1 - 1 / T}
    return common | metrics


def write_record(root: Path, model: str, calibration: str, ablation: str, fields: dict) -> Path:
    """A ``metrics.json`` of the evaluate stage, laid out as the results store does."""
    out = root / "exp" / model / "evaluate" / calibration / ablation
    out.mkdir(parents=True)
    config = {"experiment": "exp", "model": {"name": model}}
    record = {"stage": "evaluate", "config": config, "config_hash": f"{model}-{ablation}"}
    (out / "metrics.json").write_text(json.dumps(record | {"model": model, **fields}))
    return out / "metrics.json"


def write_spikes(root: Path, model: str, calibration: str, layers: int) -> Path:
    """A ``spikes.csv`` (:func:`site_table`) of ``layers`` blocks with two neuron sites each."""
    counts = {
        f"model.layers.{i}.{op}": SiteCount(
            "OATNeuron", 16, f"model.layers.{i}", op, 64, 100 * i + j, 1000, 4096, 0, 0, 0
        )
        for i in range(layers)
        for j, op in enumerate(("attention", "mlp"))
    }
    path = root / "exp" / model / "evaluate" / calibration / "full" / "spikes.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    site_table(counts).to_csv(path, index=False)
    return path


def write_thresholds(root: Path, model: str, sites: list[str]) -> Path:
    """A ``thresholds.csv`` of the calibrate stage (sites deliberately not in sorted order)."""
    path = root / "exp" / model / "calibrate" / "mse" / "thresholds.csv"
    path.parent.mkdir(parents=True)
    table = pd.DataFrame({"site": sites, "theta_nor": [0.5 + i for i in range(len(sites))]})
    table["theta_out"] = 10.0 * table["theta_nor"] ** 2
    table["outlier_fraction"] = [0.01 * (i + 1) for i in range(len(sites))]
    table["expected_mse"] = 1e-4
    table.to_csv(path, index=False)
    return path


@pytest.fixture
def store(tmp_path) -> dict[str, list[str]]:
    """A results store of a causal LM and an encoder: the command line arguments of its files."""
    root = tmp_path / "results"
    evaluate = [
        write_record(root, "tiny_llama", cal, a, evaluate_fields("causal_lm", a, T, cal))
        for cal, runs in (("mse", CAUSAL | {"no_oat": 16}), ("quantile", {"full": 16}))
        for a, T in runs.items()
    ]
    evaluate += [
        write_record(root, "tiny_bert", "mse", a, evaluate_fields("encoder", a, T, "mse"))
        for a, T in ENCODER.items()
    ]
    spikes = [write_spikes(root, "tiny_llama", "mse", 3), write_spikes(root, "tiny_bert", "mse", 2)]
    spikes.append(write_spikes(root, "tiny_llama", "quantile", 3))  # another rule: left out
    thresholds = [
        write_thresholds(root, "tiny_llama", ["model.layers.1.mlp", "model.layers.0.mlp", "lm"]),
        write_thresholds(root, "tiny_bert", ["encoder.layer.0.attention", "pooler"]),
    ]
    return {"evaluate": evaluate, "spikes": spikes, "thresholds": thresholds}


def arguments(store: dict[str, list[str]], out: Path) -> list[str]:
    return ["--out", str(out), *(a for k, v in store.items() for a in (f"--{k}", *map(str, v)))]


def plotted(store: dict[str, list[str]]) -> dict[str, figures.Plot]:
    return {
        p.name: p for p in figures.plots(store["evaluate"], store["spikes"], store["thresholds"])
    }


def test_figures_drawn_in_parallel_are_the_figures_drawn_one_by_one(store, tmp_path):
    """``--jobs 2`` (the pipeline's figures job): the same files in the same order, the same
    images."""
    serial = figures.main(arguments(store, tmp_path / "one"))
    parallel = figures.main([*arguments(store, tmp_path / "two"), "--jobs", "2"])
    assert [p.relative_to(tmp_path / "one") for p in serial] == [
        p.relative_to(tmp_path / "two") for p in parallel
    ]
    for one, two in zip(serial, parallel, strict=True):
        if one.suffix == ".png":
            assert one.read_bytes() == two.read_bytes(), one.name
    with pytest.raises(SystemExit):
        figures.main([*arguments(store, tmp_path / "three"), "--jobs", "0"])


def test_every_figure_is_written_as_png_and_pdf(store, tmp_path, capsys):
    paths = figures.main(arguments(store, tmp_path / "reports"))
    stems = ["accuracy_vs_T", "energy_vs_threshold_scale"]
    stems += [
        f"{kind}_{m}" for kind in ("firing_rates", "outliers") for m in ("tiny_llama", "tiny_bert")
    ]
    expected = {tmp_path / "reports" / f"{s}.{ext}" for s in stems for ext in ("png", "pdf")}
    assert set(paths) == expected and len(paths) == len(expected)
    for path in paths:
        magic = b"\x89PNG" if path.suffix == ".png" else b"%PDF"
        assert path.stat().st_size > 1000 and path.read_bytes().startswith(magic), path
    printed = capsys.readouterr().out
    assert "quantile/full/spikes.csv left out" in printed
    assert printed.strip().splitlines()[-len(paths) :] == [str(p) for p in paths]


def test_accuracy_vs_T_shows_the_T_ablations_of_the_chosen_rule(store):
    plot = plotted(store)["accuracy_vs_T"]
    assert [p.y for p in plot.panels] == list(figures.FIDELITY)
    assert {p.x for p in plot.panels} == {"T"}
    data = plot.data.set_index(["model", "T"])
    assert list(plot.data["model"]) == ["tiny_bert"] * 2 + ["tiny_llama"] * 4
    assert list(plot.data["T"]) == [
        4,
        16,
        2,
        4,
        8,
        16,
    ]  # T12 of neither, T2 and T8 of bert: dropped
    for model, task, runs in (
        ("tiny_llama", "causal_lm", CAUSAL),
        ("tiny_bert", "encoder", ENCODER),
    ):
        for ablation in ("T2", "T4", "T8", "full"):
            if ablation in runs:
                fields = evaluate_fields(task, ablation, runs[ablation], "mse")
                row = data.loc[(model, runs[ablation])]
                assert row["ablation"] == ablation
                for metric in figures.FIDELITY:
                    if metric in fields:
                        assert row[metric] == fields[metric], (model, ablation, metric)
                    else:
                        assert pd.isna(row[metric])


def test_energy_vs_threshold_scale_shows_the_scale_ablations(store):
    plot = plotted(store)["energy_vs_threshold_scale"]
    assert [p.y for p in plot.panels] == ["energy_ratio", *figures.FIDELITY]
    llama = plot.data[plot.data["model"] == "tiny_llama"]
    assert list(llama["ablation"]) == ["scale0p5", "full", "scale2", "scale4"]
    assert list(llama["threshold_scale"]) == [0.5, 1.0, 2.0, 4.0]
    expected = [evaluate_fields("causal_lm", a, 16, "mse") for a in llama["ablation"]]
    assert list(llama["energy_ratio"]) == [f["energy_ratio"] for f in expected]
    assert list(llama["top1_agreement"]) == [f["top1_agreement"] for f in expected]
    bert = plot.data[plot.data["model"] == "tiny_bert"]
    assert list(bert["threshold_scale"]) == [1.0, 2.0]


def test_per_model_figures_show_their_csv_in_model_order(store):
    plots = plotted(store)
    sites = plots["firing_rates_tiny_llama"].data
    pd.testing.assert_frame_equal(sites, pd.read_csv(store["spikes"][0]))
    outliers = plots["outliers_tiny_llama"].data
    thresholds = pd.read_csv(store["thresholds"][0])
    assert list(outliers["site"]) == ["model.layers.1.mlp", "model.layers.0.mlp", "lm"]
    assert list(outliers["outlier_fraction"]) == list(thresholds["outlier_fraction"])
    ratio = thresholds["theta_out"] / thresholds["theta_nor"]
    assert list(outliers["theta_ratio"]) == list(ratio)
    assert [(p.y, p.log_y) for p in plots["outliers_tiny_llama"].panels] == [
        ("outlier_fraction", False),
        ("theta_ratio", True),
    ]


def test_figures_without_data_are_skipped_with_a_note(store, tmp_path, capsys):
    out = tmp_path / "reports"
    paths = figures.main(["--out", str(out), "--thresholds", str(store["thresholds"][1])])
    assert [p.name for p in paths] == ["outliers_tiny_bert.png", "outliers_tiny_bert.pdf"]
    printed = capsys.readouterr().out
    assert "accuracy_vs_T skipped (no data)" in printed
    assert "energy_vs_threshold_scale skipped (no data)" in printed
    assert not figures.main([*arguments(store, out), "--calibration", "fixed"])  # no such runs
    no_oat = [str(p) for p in store["evaluate"] if p.parent.name == "no_oat"]
    assert not figures.main(["--out", str(out), "--evaluate", *no_oat])  # in neither figure


def test_files_outside_the_results_layout_are_refused(tmp_path):
    with pytest.raises(ValueError, match="results store layout"):
        figures.plots([], [tmp_path / "spikes.csv"], [])


def test_the_frontier_figure_is_drawn_from_the_frontier_table_of_the_records(tmp_path):
    root = tmp_path / "results"
    points = {  # (folder, ablation): method, code, T, allocation, energy, ppl ratio, top-1
        ("mse", "full"): ("las", "binary", 16, None, 1.36, 1.0, 1.0),
        ("mse", "T8"): ("las", "binary", 8, None, 0.53, 1.04, 0.84),
        ("mse", "naf"): ("las", "naf", 16, None, 1.02, 1.0, 1.0),
        ("mse_kl005", "naf"): ("las", "naf", 16, "kl<=0.005", 0.49, 1.003, 0.995),
        ("mse_kl005", "full"): ("las", "binary", 16, "kl<=0.005", 0.58, 1.004, 0.974),
        ("naive", "T8"): ("naive", "binary", 8, None, 0.2, 3e5, 0.007),
    }
    paths = []
    for (folder, ablation), (method, code, T, allocation, energy, ppl, top1) in points.items():
        fields = {"task": "causal_lm", "method": method, "code": code, "T": T, "oat": True}
        fields |= {"hg": True, "spike_attention": True, "threshold_scale": 1.0}
        fields |= {"calibration": "naive" if method == "naive" else "mse", "ablation": ablation}
        fields |= {"energy_ratio": energy, "perplexity_ratio": ppl, "top1_agreement": top1}
        fields |= {"allocation": allocation} if allocation else {}
        paths.append(write_record(root, "tiny_llama", folder, ablation, fields))
    plot = plotted({"evaluate": paths, "spikes": [], "thresholds": []})["frontier_tiny_llama"]
    assert [(p.x, p.y, p.hue) for p in plot.panels] == 2 * [
        ("energy_ratio", "perplexity_ratio", "series"),
        ("energy_ratio", "top1_agreement", "series"),
    ]
    assert [p.bounds for p in plot.panels] == 2 * [(0.5, 1.01), (0.5, 0.99)]
    assert [p.y_range for p in plot.panels[2:]] == list(figures.FRONTIER_ZOOM.values())
    assert list(plot.data["energy_ratio"]) == sorted(p[4] for p in points.values())
    assert set(plot.data["series"]) == {
        "LAS binary",
        "LAS naf",
        "LAS binary + allocation",
        "LAS naf + allocation",
        "naive",
    }
    # the allocated record stays out of the T figure (it is no uniform-T point)
    by_T = plotted({"evaluate": paths, "spikes": [], "thresholds": []})["accuracy_vs_T"].data
    assert list(by_T["T"]) == [8, 16] and list(by_T["top1_agreement"]) == [0.84, 1.0]
    drawn = figures.write_figures([plot], tmp_path / "reports")
    assert [p.name for p in drawn] == ["frontier_tiny_llama.png", "frontier_tiny_llama.pdf"]
    assert all(p.stat().st_size > 1000 for p in drawn)
