"""The ``las`` model type of lm-eval: Hugging Face's ``HFLM`` with a conversion method applied.

Importing this module registers ``las`` with lm-eval's model registry (``las-eval`` and
:func:`las.evaluation.harness.evaluate_pair` import it). Model arguments, besides all of
``HFLM``'s (``batch_size``, ``max_length``, ``dtype``, ...):

* ``pretrained``: a hub id or local path (loaded by ``HFLM``), or ``embedded:<asset>``
  (``conf/assets.yaml``, offline) or ``tiny:<family>`` (random weights, proves code paths only);
* ``method``: ``none`` (the original network), ``las``; the baselines ``fas`` and ``naive`` join
  :data:`las.evaluation.methods.METHODS` when they are built;
* ``thresholds``/``bank``: calibration artifacts of the pipeline; without them ``las`` calibrates
  on the fly on ``calibration_data`` (a ``conf/data`` config name, ``calibration_sequences``
  sequences, rule ``calibration_rule``);
* ``model_id``: identity recorded in results and checked against artifacts (default: the
  ``pretrained`` id, or the instance's ``name_or_path``); ``revision`` is ``HFLM``'s;
* ``T``, ``mode``, ``oat``, ``hg``, ``spike_attention``, ``threshold_scale``, ``softmax_offset``,
  ``convert_head``: the fields of :class:`las.ConversionConfig`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from las import data, models
from las.calibration.rules import RuleConfig
from las.conversion import ConversionConfig
from las.evaluation.methods import MethodOptions, apply_method

SOURCES = ("embedded", "tiny")


@register_model("las")
class LASLM(HFLM):
    """``HFLM`` whose model is converted by ``method`` right after loading (see module doc)."""

    def __init__(
        self,
        pretrained: Any,
        method: str | None = "las",
        thresholds: str | None = None,
        bank: str | None = None,
        calibration_data: str = "embedded_prose",
        calibration_sequences: int | None = None,
        calibration_rule: str = "mse",
        T: int = 16,
        mode: str = "fast",
        oat: bool = True,
        hg: bool = True,
        spike_attention: bool = True,
        threshold_scale: float = 1.0,
        softmax_offset: str = "max",
        convert_head: bool = True,
        model_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        revision = kwargs.get("revision")
        if model_id is None:
            model_id = pretrained if isinstance(pretrained, str) else pretrained.name_or_path
        if isinstance(pretrained, str) and pretrained.split(":", 1)[0] in SOURCES:
            source, ident = pretrained.split(":", 1)
            loaded = models.load(models.ModelSpec(name=ident, source=source, id=ident))
            pretrained, model_id, revision = loaded.model, loaded.model_id, loaded.revision
            kwargs.setdefault("tokenizer", loaded.tokenizer)
            kwargs.pop("device", None)
        super().__init__(pretrained=pretrained, **kwargs)
        conversion = ConversionConfig(
            T=int(T),
            mode=mode,
            oat=bool(oat),
            hg=bool(hg),
            spike_attention=bool(spike_attention),
            threshold_scale=float(threshold_scale),
            softmax_offset=softmax_offset,
            convert_head=bool(convert_head),
        )
        self.options = MethodOptions(
            conversion=conversion,
            thresholds=Path(thresholds) if thresholds else None,
            bank=Path(bank) if bank else None,
            data=data.data_config(calibration_data, calibration_sequences),
            rule=RuleConfig(name=calibration_rule),
            model_id=model_id,
            revision=revision,
        )
        self.method = "none"
        self.apply("none" if method is None else str(method))

    def apply(self, method: str) -> None:
        """Convert the loaded model by ``method`` (in place); only from the unconverted state."""
        if self.method != "none":
            if method == self.method:
                return
            raise ValueError(f"model already converted by {self.method!r}; load it again")
        self._model = apply_method(method, self._model, self.tokenizer, self.options).eval()
        self.method = method

    def identity(self) -> dict[str, Any]:
        """What every result row records about the model and its conversion."""
        return {
            "model": self.options.model_id,
            "revision": self.options.revision,
            "method": self.method,
            "T": self.options.conversion.T if self.method != "none" else None,
            "thresholds_hash": getattr(self._model, "las_thresholds_hash", None),
        }
