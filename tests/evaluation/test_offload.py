"""Converted models under accelerate's CPU/disk offload compute what they compute in memory."""

from __future__ import annotations

import pytest
import torch
from accelerate.utils import compute_module_sizes

from las.arch.tiny import output_tensor, tiny_inputs, tiny_model
from las.calibration import calibrate_model
from las.conversion import convert_model
from las.evaluation.harness import run_tasks, task_manager
from las.evaluation.lm_eval_model import LASLM
from las.offload import dispatch

LIMIT, TASK = 4, "las_mmlu_embedded"


@pytest.mark.parametrize("family", ["llama", "gpt2", "opt", "gemma3", "bert"])
def test_converted_model_under_disk_offload_equals_it_in_memory(family, tmp_path):
    model = tiny_model(family)
    calibration, _ = calibrate_model(model, [tiny_inputs(family, seed=s) for s in range(2)], K=8)
    snn = convert_model(model, calibration)
    x = tiny_inputs(family, seed=5)
    with torch.inference_mode():
        expected = output_tensor(snn(**x))
    budget = int(compute_module_sizes(snn)[""] * 0.8)  # blocks go to disk
    placed = dispatch(snn, {"cpu": budget}, tmp_path / "offload")
    assert "disk" in placed.hf_device_map.values() and "cpu" in placed.hf_device_map.values()
    assert any(p.is_meta for p in placed.parameters())  # really offloaded, read back when run
    with torch.inference_mode():
        assert torch.equal(output_tensor(placed(**x)), expected)


def test_disk_offload_needs_a_folder_and_room_on_a_device(tmp_path):
    model = tiny_model("llama")
    budget = int(compute_module_sizes(model)[""] * 0.8)
    with pytest.raises(ValueError, match="offload_folder"):
        dispatch(model, {"cpu": budget})
    with pytest.raises(ValueError, match="raise max_memory"):
        dispatch(model, {"cpu": 1000}, tmp_path)


def test_las_eval_accepts_parallelize_with_offload(tmp_path):
    manager = task_manager()
    common = {"pretrained": "tiny:llama", "batch_size": 4, "calibration_sequences": 4}
    in_memory = LASLM(method="naive", **common)
    offloaded = LASLM(
        method="naive",
        parallelize=True,
        max_cpu_memory=int(compute_module_sizes(tiny_model("llama"))[""] * 0.8),
        offload_folder=str(tmp_path / "offload"),
        **common,
    )
    assert "disk" in offloaded.model.hf_device_map.values()
    a, b = (run_tasks(lm, [TASK], manager, LIMIT) for lm in (in_memory, offloaded))
    resps = [[s["resps"] for s in r["samples"][TASK]] for r in (a, b)]
    assert resps[0] == resps[1]
