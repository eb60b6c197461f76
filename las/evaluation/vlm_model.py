"""The ``las-multimodal`` model type of lm-eval: its ``hf-multimodal`` model, converted by a method.

Importing this module registers ``las-multimodal`` with lm-eval's model registry (``las-eval`` and
the ``evaluate_vlm_tasks`` stage import it). It is lm-eval's ``HFMultimodalLM`` (the processor
lays out image and text, lm-eval's tasks give the images) whose vision-language model is
converted right after loading, vision tower, projector or patch merger and language model alike
(METHOD.md M1-M8; LLaVA and Qwen2-VL adapters of :mod:`las.arch`), by the methods of the text
model (:mod:`las.evaluation.methods`: ``none`` the ANN, ``las``, ``naive``; ``fas`` needs a
converted folder of the pipeline, which VLMs do not have, and is refused by the method itself).
lm-eval's multimodal model scores generation tasks only (``generate_until``; its image-text
log-likelihoods are not implemented upstream), so VLM rows are generation metrics.

Model arguments, besides ``HFMultimodalLM``'s and ``HFLM``'s own (any other key is refused):

* ``pretrained``: a hub id or local path (model and processor loaded by ``HFMultimodalLM``) or
  ``tiny:<family>`` (``llava``, ``qwen2_vl``: random weights with a real transformers processor,
  :func:`las.arch.tiny.tiny_processor`; proves code paths only);
* ``method``: ``none``, ``las``, ``naive`` (see above);
* ``calibration_batches``, ``calibration_batch_size``: calibration is on the fly, on seeded
  synthetic image-question batches (:func:`las.vqa.synthetic_batch`: seeds ``0 ..
  calibration_batches - 1``, shapes in colours, the model's own prompt layout), by rule
  ``calibration_rule`` (a ``conf/calibration`` rule name, or a :class:`RuleConfig` from Python);
  no text corpus can calibrate a vision tower; ``percentile``: the naive method's quantile;
* ``model_id``: identity recorded in results (default: the ``pretrained`` id);
* ``T``, ``mode``, ``code``, ``oat``, ``hg``, ``spike_attention``, ``threshold_scale``,
  ``softmax_offset``, ``convert_head``: the fields of :class:`las.ConversionConfig`.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from lm_eval.api.registry import register_model
from lm_eval.models.hf_vlms import HFMultimodalLM
from transformers import PreTrainedModel, ProcessorMixin

from las import models
from las.arch.tiny import tiny_processor
from las.calibration.rules import RuleConfig
from las.config import PositiveInt, checked, typed
from las.conversion import ConversionConfig
from las.evaluation.lm_eval_model import HFLM_KEYS, Converting, split_model_args
from las.evaluation.methods import MethodOptions
from las.vqa import synthetic_batch

VLM_KEYS = HFLM_KEYS | (
    frozenset(inspect.signature(HFMultimodalLM.__init__).parameters) - {"self", "kwargs"}
)


@typed
class VLMCalibration:
    """The on-the-fly calibration of a VLM: how many synthetic batches, of how many items."""

    batches: PositiveInt = 4
    batch_size: PositiveInt = 2


def synthetic_calibration(
    model: PreTrainedModel, tokenizer: Any, cfg: VLMCalibration
) -> list[dict[str, torch.Tensor]]:
    """``cfg.batches`` seeded synthetic image-question batches (prompt and reference answer) in
    ``model``'s layout; floating inputs (pixels) in the model's dtype."""
    dtype = model.dtype
    return [
        {
            k: v.to(dtype) if v.is_floating_point() else v
            for k, v in synthetic_batch(model.config, tokenizer, cfg.batch_size, seed)
            .scoring_inputs()
            .items()
        }
        for seed in range(cfg.batches)
    ]


def load_tiny(pretrained: str) -> models.LoadedModel:
    """The tiny random VLM named ``pretrained = "tiny:<family>"`` (``llava``, ``qwen2_vl``);
    its ``model_id`` is ``tiny-<family>``."""
    family = pretrained.split(":", 1)[1]
    spec = checked(
        models.ModelSpec,
        f"pretrained={pretrained}",
        name=family,
        source="tiny",
        id=family,
        task="vision_language",
    )
    return models.load(spec)


@typed
class VLMSettings:
    """A ``las`` VLM harness model's own arguments, checked before the model loads: the
    conversion switches, the on-the-fly calibration and its threshold rule."""

    conversion: ConversionConfig
    calibration: VLMCalibration
    rule: RuleConfig

    @classmethod
    def parse(
        cls,
        owner: str,
        switches: dict[str, Any],
        batches: int,
        batch_size: int,
        rule: str | RuleConfig,
    ) -> VLMSettings:
        """Checked settings of harness model ``owner`` (named in errors): ``switches`` are
        :class:`ConversionConfig` fields, ``rule`` a ``conf/calibration`` name or a rule."""
        where = f"{owner} model_args"
        return cls(
            conversion=checked(ConversionConfig, where, **switches),
            calibration=checked(VLMCalibration, where, batches=batches, batch_size=batch_size),
            rule=rule
            if isinstance(rule, RuleConfig)
            else checked(RuleConfig, "calibration_rule", name=rule),
        )

    def start(
        self,
        lm: Converting,
        method: str | None,
        percentile: float,
        model_id: str | None,
        revision: str | None,
    ) -> None:
        """Give the loaded harness model ``lm`` (its ``_model`` and ``tokenizer`` set) its
        :class:`MethodOptions`, calibrated on synthetic image-question batches, and convert it by
        ``method`` (None: the ANN)."""
        lm.options = MethodOptions(
            conversion=self.conversion,
            batches=synthetic_calibration(lm._model, lm.tokenizer, self.calibration),
            rule=self.rule,
            percentile=percentile,
            model_id=model_id,
            revision=revision,
        )
        lm.method = "none"
        lm.apply("none" if method is None else str(method))


@register_model("las-multimodal")
class LASVLM(Converting, HFMultimodalLM):
    """``HFMultimodalLM`` whose model is converted by ``method`` after loading (module doc)."""

    def __init__(
        self,
        pretrained: Any,
        method: str | None = "las",
        calibration_batches: int = 4,
        calibration_batch_size: int = 2,
        calibration_rule: str | RuleConfig = "mse",
        percentile: float = 0.999,
        model_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        switches, hf_args = split_model_args(kwargs, VLM_KEYS, "HFMultimodalLM")
        settings = VLMSettings.parse(
            "las-multimodal",
            switches,
            calibration_batches,
            calibration_batch_size,
            calibration_rule,
        )
        revision = hf_args.get("revision")
        if isinstance(pretrained, str) and pretrained.startswith("tiny:"):
            loaded = load_tiny(pretrained)
            hf_args["tokenizer"] = tiny_processor(pretrained.split(":", 1)[1])
            pretrained, model_id, revision = loaded.model, loaded.model_id, loaded.revision
            hf_args.pop("device", None)
        elif model_id is None:
            model_id = pretrained if isinstance(pretrained, str) else pretrained.name_or_path
        super().__init__(pretrained=pretrained, **hf_args)
        settings.start(self, method, percentile, model_id, revision)

    def _create_tokenizer(self, pretrained: Any, tokenizer: Any, **kwargs: Any) -> None:
        """A processor instance is used as it is (``HFMultimodalLM`` would return it unused);
        anything else loads as ``HFMultimodalLM`` loads it."""
        if isinstance(tokenizer, ProcessorMixin):
            self.processor, self.tokenizer = tokenizer, tokenizer.tokenizer
            return
        super()._create_tokenizer(pretrained, tokenizer, **kwargs)
