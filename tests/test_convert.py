"""Stage ``convert``: a folder that loads back in one call; labels only from the artifacts."""

from __future__ import annotations

import json

import pytest
import torch

from las import load_converted
from las.arch.tiny import tiny_inputs
from las.artifacts import ArtifactMismatchError
from las.converted import ConvertedModel
from las.models import ModelSpec, load
from las.neurons import MTNeuron
from tests.stage_chain import run_stage


def test_the_converted_folder_loads_back_as_the_converted_model(chain):
    folder = chain.dir("convert")
    snn = load_converted(folder)
    converted = ConvertedModel.read(folder)
    assert converted.conversion.T == 16 and converted.labels["calibration"] == "mse"
    original = load(ModelSpec(name="tiny_llama", source="tiny", id="llama")).model
    again = converted.apply(load(converted.model).model)
    inputs = tiny_inputs("llama")
    with torch.inference_mode():
        a, b, ref = (m(**inputs).logits for m in (snn, again, original))
    assert torch.equal(a, b) and not torch.equal(a, ref)
    assert torch.allclose(a, ref, rtol=0.05, atol=0.05)
    # the original weights are referenced, not copied: the folder holds kilobytes
    assert sum(p.stat().st_size for p in folder.iterdir()) < 2_000_000
    record = json.loads((folder / "converted.json").read_text())
    assert record["model"]["id"] == "llama" and record["identity"]["revision"] == "seed0"


def test_a_naf_folder_loads_back_with_its_code(chain, tmp_path):
    """The record keeps ``conversion.code`` (M11): the folder loads NAF neurons at every MT/OAT
    site but the row max's score sites (binary: M13 compares bits), with the binary folder's
    logits bit for bit."""
    overrides = [o for o in chain.overrides("convert") if not o.startswith("output_dir")]
    folder = run_stage("convert", *overrides, "ablation=naf", f"output_dir={tmp_path}/naf")
    converted = ConvertedModel.read(folder)
    assert converted.conversion.code == "naf" and converted.labels["ablation"] == "naf"
    snn = load_converted(folder)
    neurons = {n: m for n, m in snn.named_modules() if isinstance(m, MTNeuron)}
    scores = [m for n, m in neurons.items() if n.endswith("las_core.neurons.score")]
    assert scores and all(m.code.name == "binary" for m in scores)
    coded = [m for m in neurons.values() if m not in scores]
    assert coded and all(m.code.name == "naf" for m in coded)
    inputs = tiny_inputs("llama")
    with torch.inference_mode():
        naf, binary = (m(**inputs).logits for m in (snn, load_converted(chain.dir("convert"))))
    assert torch.equal(naf, binary)


def test_a_label_that_disagrees_with_the_artifact_is_refused(chain, tmp_path):
    """Failure 3: calibration=quantile with the mse thresholds is not labelled quantile."""
    overrides = [o for o in chain.overrides("convert") if not o.startswith("output_dir")]
    with pytest.raises(ArtifactMismatchError, match=r'calibrate calibration = .*"mse".*rerun'):
        run_stage("convert", *overrides, "calibration=quantile", f"output_dir={tmp_path}/q")
    assert not (tmp_path / "q").exists()


def test_an_edited_upstream_config_is_detected(chain, tmp_path):
    """Failure 3: a calibration setting changed since the thresholds were made is refused."""
    overrides = [o for o in chain.overrides("convert") if not o.startswith("output_dir")]
    with pytest.raises(ArtifactMismatchError, match=r"rerun 'calibrate'"):
        run_stage("convert", *overrides, "calibration.q=0.95", f"output_dir={tmp_path}/e")


def test_a_corrupt_folder_names_the_fix(chain, tmp_path):
    (tmp_path / "converted.json").write_text("{")
    with pytest.raises(ValueError, match=r"corrupt .*converted\.json.*rerun 'convert'"):
        ConvertedModel.read(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a converted model"):
        ConvertedModel.read(tmp_path / "none")


@pytest.mark.parametrize("method", ["fas", "naive"])
def test_baseline_folders_load_back_by_their_method(baselines, method):
    from las.neurons import IFNeuron

    folder = baselines.dir(f"convert_{method}")
    converted = ConvertedModel.read(folder)
    assert converted.method == method and converted.conversion.T == 4
    assert converted.labels["calibration"] == method and converted.labels["ablation"] == "T4"
    snn = load_converted(folder)
    neurons = [m for m in snn.modules() if isinstance(m, IFNeuron)]
    with torch.inference_mode():
        logits = snn(**tiny_inputs("llama")).logits
    assert torch.isfinite(logits).all() and all(n.T == 4 for n in neurons)
    if method == "fas":  # one IF neuron per FFN, per-channel parameters
        assert len(neurons) == 2 and neurons[0].theta.shape == (64,)
    else:  # every OAT site (signed) and the attention probabilities (unsigned)
        assert len(neurons) > 2 * 10 and any(n.signed for n in neurons)


def test_a_folder_is_applied_by_its_own_method_only(baselines):
    from las.evaluation.methods import MethodOptions, apply_method

    converted = ConvertedModel.read(baselines.dir("convert_naive"))
    model = converted.load_original()
    options = MethodOptions(converted=converted)
    with pytest.raises(ValueError, match="is a 'naive' model; method='fas'"):
        apply_method("fas", model.model, model.tokenizer, options)


def test_fas_needs_its_calibration_for_the_same_T(baselines, tmp_path):
    overrides = [o for o in baselines.overrides("convert_fas") if not o.startswith("output_")]
    with pytest.raises(ArtifactMismatchError, match=r"calibrate_fas conversion.T = 4"):
        run_stage("convert", *overrides, "conversion.T=8", f"output_dir={tmp_path}/f")


def test_an_allocating_rule_writes_bits_that_meet_the_budget_and_load_back(chain, tmp_path):
    """M12 through the stages: calibrate with an allocating rule, convert chooses bits per site
    on the calibration text, the folder loads them and its record says what they cost."""
    rule = ["calibration=mse_kl005", "calibration.allocation.budget=1e-6"]
    rule += ["calibration.allocation.check_batches=1"]  # one more calibration batch, held out
    stats = f"stats={chain.dir('collect') / 'stats.safetensors'}"
    calibrate = run_stage(
        "calibrate", chain.model, "tracking=disabled", stats, *rule, f"output_dir={tmp_path}/cal"
    )
    overrides = [o for o in chain.overrides("convert") if not o.startswith(("output_dir", "thr"))]
    folder = run_stage(
        "convert",
        *overrides,
        *rule,
        f"thresholds={calibrate / 'thresholds.safetensors'}",
        f"output_dir={tmp_path}/alloc",
    )
    record = json.loads((folder / "metrics.json").read_text())
    found = record["allocation_record"]
    assert found["allocated_kl"] <= 1e-6 and record["allocation"] == "kl<=1e-06"
    assert found["allocated_check_kl"] <= 1e-6  # met on the held-out calibration batch too
    assert found["allocated_e_snn_pj"] <= found["uniform_e_snn_pj"]
    assert (folder / "allocation.csv").is_file()
    converted = ConvertedModel.read(folder)
    bits = converted.calibration().bits
    assert bits and set(bits.values()) <= set(found["candidates"])
    snn = load_converted(folder)
    assert {n.site: n.bits for n in snn.modules() if n.__class__.__name__ == "OATNeuron"} == bits
