"""The ``las-multimodal`` lm-eval model: lm-eval's ``hf-multimodal`` unchanged without
conversion; converted tiny LLaVA and Qwen2-VL through the harness with paired rows."""

from __future__ import annotations

import pytest
from lm_eval.models.hf_vlms import HFMultimodalLM

from las.arch.tiny import tiny_model, tiny_processor
from las.config import ConfigError
from las.evaluation.harness import evaluate_pair, run_tasks, task_manager
from las.evaluation.vlm_model import LASVLM
from las.ops import SpikingOp

TASK = "las_shapes_vqa"
VISION = {"llava": "vision_tower", "qwen2_vl": "visual"}


@pytest.fixture(scope="module")
def manager():
    return task_manager()


def test_method_none_equals_plain_hf_multimodal_model(manager, tmp_path):
    """The plain model loads the same tiny LLaVA and processor from disk, as a hub model loads
    (Qwen2-VL's AutoProcessor needs torchvision, not installed: LLaVA only)."""
    tiny_model("llava").save_pretrained(tmp_path)
    tiny_processor("llava").save_pretrained(tmp_path)
    plain = HFMultimodalLM(pretrained=str(tmp_path), batch_size=2, device="cpu")
    ours = LASVLM(pretrained="tiny:llava", method="none", batch_size=2)
    a, b = (run_tasks(lm, [TASK], manager, 4) for lm in (plain, ours))
    assert (
        a["results"][TASK]["exact_match,first_word"] == b["results"][TASK]["exact_match,first_word"]
    )
    resps = [[s["resps"] for s in r["samples"][TASK]] for r in (a, b)]
    assert resps[0] == resps[1] and all(r[0][0] for r in resps[0])  # generated, not empty


@pytest.mark.parametrize("family", ["llava", "qwen2_vl"])
def test_converted_vlm_rows_carry_the_ann_reference(family, manager):
    lm = LASVLM(pretrained=f"tiny:{family}", method="none", batch_size=2, T=8)
    rows = evaluate_pair(lm, [TASK], "las", 2, manager)
    for part in ("language_model", VISION[family]):  # both towers spike
        assert any(isinstance(m, SpikingOp) for m in getattr(lm.model.model, part).modules())
    (row,) = rows.itertuples()
    assert (row.task, row.metric, row.filter, row.n) == (TASK, "exact_match", "first_word", 2)
    assert (row.method, row.T, row.model) == ("las", 8, f"tiny-{family}")
    assert len(row.thresholds_hash) == 16
    assert row.delta_ci_low <= row.delta <= row.delta_ci_high


def test_unknown_arguments_are_refused_before_loading():
    with pytest.raises(ConfigError, match=r"unknown las model argument\(s\) \['Tee'\]"):
        LASVLM(pretrained="tiny:llava", Tee=8)
    with pytest.raises(ConfigError, match="batches: got 0"):
        LASVLM(pretrained="tiny:llava", calibration_batches=0)


def test_fas_needs_a_converted_folder():
    with pytest.raises(ValueError, match=r"method 'fas' needs a converted folder"):
        LASVLM(pretrained="tiny:qwen2_vl", method="fas", batch_size=2)
