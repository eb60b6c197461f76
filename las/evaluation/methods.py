"""Conversion methods by name: what ``method=`` selects in evaluation and in lm-eval.

``none`` leaves the model as it is (the ANN reference); ``las`` converts it with calibrated
thresholds and HG neurons (METHOD.md M1-M7). The baselines of METHOD.md M9 (``fas``) and M10
(``naive``) register here under those names when they are built, with the same signature; an
unknown name is refused listing what exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from las import data
from las.calibration import calibrate_model
from las.calibration.rules import RuleConfig
from las.calibration.store import load_thresholds
from las.config import config_hash
from las.conversion import Calibration, ConversionConfig, convert_model
from las.converted import ConvertedModel
from las.data import DataConfig
from las.hg_bank import load_bank


@dataclass(frozen=True)
class MethodOptions:
    """Everything a method needs besides the model.

    Attributes:
        conversion: the conversion switches (T, mode, ablations).
        thresholds: ``calibrate`` artifact (safetensors); with ``bank``, calibration is read
            from disk and checked against ``model_id``/``revision``.
        bank: ``fit_hg`` artifact (safetensors).
        converted: a converted-model folder (``convert`` stage); it fixes conversion and
            calibration (no ``thresholds``/``bank`` then).
        data: data config (``conf/data``) for on-the-fly calibration when no artifacts are given.
        rule: threshold rule for on-the-fly calibration.
        task: ``causal_lm`` or ``encoder`` (how calibration text is batched).
        model_id, revision: identity the artifacts must carry.
    """

    conversion: ConversionConfig = field(default_factory=ConversionConfig)
    thresholds: Path | None = None
    bank: Path | None = None
    converted: ConvertedModel | None = None
    data: DataConfig | None = None
    rule: RuleConfig = field(default_factory=RuleConfig)
    task: str = "causal_lm"
    model_id: str | None = None
    revision: str | None = None


Method = Callable[[PreTrainedModel, PreTrainedTokenizerBase, MethodOptions], PreTrainedModel]


def no_conversion(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, options: MethodOptions
) -> PreTrainedModel:
    """The original model (the ANN reference row)."""
    return model


def las_calibration(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, options: MethodOptions
) -> Calibration:
    """Calibration from artifacts when both are given, else collected on ``options.data``.

    ``meta["thresholds_hash"]`` identifies the thresholds as every result row records them: the
    ``calibrate`` artifact's config hash (what the ``evaluate`` stage records too), or for an
    on-the-fly calibration the hash of the chosen values.
    """
    if (options.thresholds is None) != (options.bank is None):
        raise ValueError(
            "give both calibration artifacts (thresholds= and bank=) or neither (calibrate on "
            "the fly from calibration_data=)"
        )
    if options.thresholds is not None:
        ident = {"model_id": options.model_id, "revision": options.revision}
        thresholds, identity = load_thresholds(Path(options.thresholds), **ident)
        bank, _ = load_bank(Path(options.bank), **ident)
        return Calibration(thresholds, bank, {"thresholds_hash": identity.config_hash})
    if options.data is None:
        raise ValueError("method 'las' needs calibration artifacts or a calibration data config")
    batches = data.calibration_batches(tokenizer, options.data, options.task)
    calibration, _ = calibrate_model(model, batches, options.conversion, options.rule)
    values = {site: list(pair) for site, pair in sorted(calibration.thresholds.items())}
    calibration.meta["thresholds_hash"] = config_hash(values)
    return calibration


def las_method(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, options: MethodOptions
) -> PreTrainedModel:
    """LAS conversion of ``model`` in place (weights are shared, no second copy)."""
    if options.converted is not None:
        return options.converted.apply(model)
    calibration = las_calibration(model, tokenizer, options)
    converted = convert_model(model, calibration, options.conversion, inplace=True)
    converted.las_thresholds_hash = calibration.meta["thresholds_hash"]
    return converted


METHODS: dict[str, Method] = {"none": no_conversion, "las": las_method}


def apply_method(
    name: str, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, options: MethodOptions
) -> PreTrainedModel:
    """``METHODS[name](model, tokenizer, options)``; ``ValueError`` naming the known methods."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}")
    return METHODS[name](model, tokenizer, options)
