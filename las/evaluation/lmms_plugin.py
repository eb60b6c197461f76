"""The ``lmms_eval.models`` entry point of this package (``pyproject.toml``): lmms-eval calls
:func:`manifests` while it builds its model registry, so ``--model las_llava_hf`` and
``--model las_qwen2_vl`` resolve to :mod:`las.evaluation.lmms_model` (imported only when used)."""

from __future__ import annotations

from typing import Any

#: lmms-eval model name -> class path.
MODELS = {
    "las_llava_hf": "las.evaluation.lmms_model.LASLlavaHf",
    "las_qwen2_vl": "las.evaluation.lmms_model.LASQwen2VL",
}


def manifests() -> list[Any]:
    """lmms-eval ``ModelManifest`` objects of :data:`MODELS` (simple model classes)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [ModelManifest(model_id=name, simple_class_path=path) for name, path in MODELS.items()]
