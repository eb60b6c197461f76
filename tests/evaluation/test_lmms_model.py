"""The lmms-eval ``las`` models: lmms-eval's ``llava_hf`` unchanged without conversion; converted
through lmms-eval's own ``simple_evaluate`` with paired rows; settings refused before loading.

lmms-eval lives in its own environment (workflow/envs/lmms-eval.txt); ``.ci/run`` runs this file
there. Outside it only the refusal of the harness is tested. The task is the code-path
``las_shapes_vqa`` items (never a benchmark) written as an lmms-eval task on local files.
"""

from __future__ import annotations

import importlib.util

import pytest

from las.config import ConfigError
from las.evaluation.harness import evaluate_pair, run_tasks, task_manager
from las.tasks.shapes_data import shapes_dataset

HAS_LMMS = importlib.util.find_spec("lmms_eval") is not None
needs_lmms = pytest.mark.skipif(not HAS_LMMS, reason="lmms-eval's environment only")
TASK = "las_shapes_lmms"


@pytest.mark.skipif(HAS_LMMS, reason="lmms-eval is importable here")
def test_the_lmms_harness_outside_its_environment_names_the_fix():
    with pytest.raises(ConfigError, match=r"workflow/envs/lmms-eval\.txt"):
        task_manager(harness="lmms_eval")


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    """lmms-eval's task manager with ``las_shapes_lmms``: the shapes items saved to disk."""
    folder = tmp_path_factory.mktemp("lmms_task")
    shapes_dataset(n=4).save_to_disk(folder / "data")
    (folder / "utils.py").write_text("def visual(doc):\n    return [doc['image'].convert('RGB')]\n")
    (folder / f"{TASK}.yaml").write_text(
        f"task: {TASK}\ndataset_path: {folder / 'data'}\ndataset_kwargs:\n  load_from_disk: true\n"
        "test_split: test\noutput_type: generate_until\ndoc_to_visual: !function utils.visual\n"
        'doc_to_text: "{{question}} Answer with one word:"\ndoc_to_target: answer\n'
        "generation_kwargs:\n  max_new_tokens: 4\n  do_sample: false\n"
        "metric_list:\n  - metric: exact_match\n    aggregation: mean\n"
        "    higher_is_better: true\n    ignore_case: true\n"
    )
    from lmms_eval.tasks import TaskManager

    return TaskManager(include_path=str(folder), include_defaults=False)


@needs_lmms
def test_method_none_equals_plain_lmms_llava_hf(manager):
    from lmms_eval.models.simple.llava_hf import LlavaHf

    from las.evaluation.lmms_model import LASLlavaHf, tiny_folder

    plain = LlavaHf(pretrained=str(tiny_folder("tiny:llava")), device="cpu", device_map="cpu")
    ours = LASLlavaHf(pretrained="tiny:llava", method="none", device="cpu")
    a, b = (run_tasks(lm, [TASK], manager, 4, "lmms_eval") for lm in (plain, ours))
    resps = [
        [s["resps"] for s in sorted(r["samples"][TASK], key=lambda s: s["doc_id"])] for r in (a, b)
    ]
    assert resps[0] == resps[1] and len(resps[0]) == 4 and all(r[0][0] for r in resps[0])


@needs_lmms
@pytest.mark.parametrize("family", ["llava", "qwen2_vl"])
def test_converted_rows_through_lmms_eval_carry_the_ann_reference(family, manager):
    if family == "qwen2_vl":
        pytest.importorskip("torchvision", reason="lmms-eval's qwen2_vl needs torchvision")
    from las.evaluation.lmms_model import BY_MODEL_TYPE
    from las.ops import SpikingOp

    lm = BY_MODEL_TYPE[family](pretrained=f"tiny:{family}", method="none", device="cpu", T=8)
    rows = evaluate_pair(lm, [TASK], "las", 4, manager, "lmms_eval")
    assert any(isinstance(m, SpikingOp) for m in lm.model.modules())
    (row,) = rows.itertuples()
    assert (row.task, row.metric, row.n, row.method, row.T) == (TASK, "exact_match", 4, "las", 8)
    assert row.model == f"tiny:{family}" and len(row.thresholds_hash) == 16
    assert row.delta_ci_low <= row.delta <= row.delta_ci_high


@needs_lmms
def test_settings_are_refused_before_loading():
    from las.evaluation.lmms_model import LASLlavaHf

    with pytest.raises(ConfigError, match=r"unknown las model argument\(s\) \['Tee'\]"):
        LASLlavaHf(pretrained="tiny:llava", Tee=8)
    with pytest.raises(ConfigError, match="batches: got 0"):
        LASLlavaHf(pretrained="tiny:llava", calibration_batches=0)


@needs_lmms
def test_lmms_eval_resolves_the_las_models_by_name():
    from lmms_eval.models import get_model

    from las.evaluation.lmms_model import LASLlavaHf

    assert get_model("las_llava_hf", force_simple=True) is LASLlavaHf
