"""The ``las`` models of lmms-eval: its ``llava_hf`` and ``qwen2_vl`` models, converted by a method.

lmms-eval (0.7.3) carries the LAS paper's own VLM benchmarks (RealWorldQA, HallusionBench, POPE,
MME, MMStar, ScienceQA; ``conf/task/paper_vlm_lmms.yaml``), which lm-eval does not. It pins
``wandb==0.25.0`` against this project's ``wandb>=0.31``, so it lives in an environment of its own
(``workflow/envs/lmms-eval.txt``, README "Evaluating VLMs with lmms-eval"); this module imports
only there. lmms-eval finds the models through this package's ``lmms_eval.models`` entry point
(:func:`las.evaluation.lmms_plugin.manifests`): ``--model las_llava_hf`` or ``las_qwen2_vl``.

Each is lmms-eval's own simple model class (its prompt layout, chat template, image handling and
generation), whose model is converted in place right after loading, vision tower, projector or
patch merger and language model alike (METHOD.md M1-M8), by the methods of the other harness
models (:mod:`las.evaluation.methods`: ``none`` the ANN, ``las``, ``naive``), calibrated on the fly
on seeded synthetic image-question batches (:class:`las.evaluation.vlm_model.VLMSettings`).

Model arguments, besides the lmms-eval class's own (any other key is refused):

* ``pretrained``: a hub id or local folder, or ``tiny:<family>`` (``llava``, ``qwen2_vl``: the
  random tiny VLM of :mod:`las.arch.tiny`, saved once under ``$LAS_CACHE/tiny_vlm/<family>`` with
  its processor, since lmms-eval loads from a folder; proves code paths only);
* ``method``, ``calibration_batches``, ``calibration_batch_size``, ``calibration_rule``,
  ``percentile``, ``model_id`` and the :class:`las.ConversionConfig` fields, as for
  ``las-multimodal`` (:mod:`las.evaluation.vlm_model`);
* ``device`` defaults to ``cuda``, lmms-eval's default; a CUDA device this machine lacks runs
  on the CPU with a warning, as ``las-eval`` does; ``device_map`` defaults to ``device``.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from lmms_eval.models.simple.llava_hf import LlavaHf
from lmms_eval.models.simple.qwen2_vl import Qwen2_VL

from las.arch.tiny import tiny_processor
from las.calibration.rules import RuleConfig
from las.evaluation.lm_eval_model import Converting, available_device, split_model_args
from las.evaluation.vlm_model import VLMSettings, load_tiny
from las.models import default_cache


def tiny_folder(pretrained: str, cache: Path | None = None) -> Path:
    """The folder of the tiny VLM ``pretrained = "tiny:<family>"`` with its processor, saved
    once (atomically) under ``cache/tiny_vlm/<family>`` (default ``$LAS_CACHE``)."""
    family = pretrained.split(":", 1)[1]
    folder = (cache or default_cache()) / "tiny_vlm" / family
    if (folder / "config.json").is_file():
        return folder
    loaded = load_tiny(pretrained)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{family}-", dir=folder.parent))
    loaded.model.save_pretrained(staging)
    tiny_processor(family).save_pretrained(staging)
    try:
        os.replace(staging, folder)
    except OSError:  # another process saved it first
        if not (folder / "config.json").is_file():
            raise
    return folder


class ConvertingLMMS(Converting):
    """What ``las`` adds to an lmms-eval model class ``harness`` (module doc); subclasses name
    it as their second base."""

    harness: ClassVar[type]

    def __init__(
        self,
        pretrained: str = "",
        method: str | None = "las",
        calibration_batches: int = 4,
        calibration_batch_size: int = 2,
        calibration_rule: str | RuleConfig = "mse",
        percentile: float = 0.999,
        model_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        keys = frozenset(inspect.signature(self.harness.__init__).parameters) - {"self", "kwargs"}
        switches, harness_args = split_model_args(kwargs, keys, self.harness.__name__)
        settings = VLMSettings.parse(
            name, switches, calibration_batches, calibration_batch_size, calibration_rule
        )
        if not pretrained:
            raise ValueError(f"{name}: pretrained=<hub id, folder or tiny:<family>> is required")
        model_id = model_id or pretrained
        if pretrained.startswith("tiny:"):
            pretrained = str(tiny_folder(pretrained))
        device = available_device(harness_args.get("device") or "cuda")
        harness_args["device"] = device
        harness_args["device_map"] = harness_args.get("device_map") or device
        super().__init__(pretrained=pretrained, **harness_args)
        settings.start(self, method, percentile, model_id, harness_args.get("revision"))

    def clean(self) -> None:
        """Keep the model: lmms-eval's ``evaluate`` ends by deleting the harness model's modules,
        but a paired run evaluates the same loaded model twice, as ANN and then converted; it is
        freed with the object."""


class LASLlavaHf(ConvertingLMMS, LlavaHf):
    """lmms-eval's ``llava_hf`` (LLaVA-1.5 and relatives in transformers format), converted."""

    harness = LlavaHf


class LASQwen2VL(ConvertingLMMS, Qwen2_VL):
    """lmms-eval's ``qwen2_vl`` (Qwen2-VL), converted."""

    harness = Qwen2_VL


#: lmms-eval model name -> class, by the ``model_type`` of the model's config.
BY_MODEL_TYPE: dict[str, type[ConvertingLMMS]] = {"llava": LASLlavaHf, "qwen2_vl": LASQwen2VL}
