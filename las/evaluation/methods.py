"""Conversion methods by name: what ``method=`` selects in evaluation and in lm-eval.

``none`` leaves the model as it is (the ANN reference); ``las`` converts it with calibrated
thresholds and HG neurons (METHOD.md M1-M7); ``fas`` (M9) with the fine-tuned QCFS weights and
calibrated IF neurons of a converted folder (its two training stages run in the pipeline, so
there is no on-the-fly FAS); ``naive`` (M10) with percentile-threshold IF neurons, from a
converted folder or calibrated on the fly. Every method has the same signature; a converted
folder (``options.converted``) is applied by its own method, which must be the one asked for. An
unknown name is refused listing what exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from las import data
from las.calibration import calibrate_model, collect_statistics
from las.calibration.rules import RuleConfig
from las.calibration.store import load_thresholds
from las.config import config_hash
from las.conversion import Calibration, ConversionConfig, convert_model
from las.converted import ConvertedModel
from las.data import DataConfig
from las.fas.convert import SPIKING_PARTS as FAS_PARTS
from las.hg_bank import load_bank
from las.naive import SPIKING_PARTS as NAIVE_PARTS
from las.naive import convert_naive, naive_thresholds

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: Which parts of the converted model spike, per method (a column of the tables).
SPIKING_PARTS = {
    "none": "nothing (the ANN)",
    "las": "every block operator (OAT, spike products, HG nonlinearities, spiking norms)",
    "fas": FAS_PARTS,
    "naive": NAIVE_PARTS,
}


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
        batches: model inputs to calibrate on instead of ``data`` (e.g. image-question batches
            of a vision-language model, which text data cannot calibrate).
        rule: threshold rule for on-the-fly calibration.
        percentile: the naive baseline's threshold quantile for on-the-fly calibration.
        task: ``causal_lm`` or ``encoder`` (how calibration text is batched).
        model_id, revision: identity the artifacts must carry.
    """

    conversion: ConversionConfig = field(default_factory=ConversionConfig)
    thresholds: Path | None = None
    bank: Path | None = None
    converted: ConvertedModel | None = None
    data: DataConfig | None = None
    batches: list[dict] | None = None
    rule: RuleConfig = field(default_factory=RuleConfig)
    percentile: float = 0.999
    task: str = "causal_lm"
    model_id: str | None = None
    revision: str | None = None


#: A method: the ANN, its tokenizer and the options -> the converted model.
Method = Callable[["PreTrainedModel", "PreTrainedTokenizerBase", MethodOptions], "PreTrainedModel"]


def no_conversion(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, options: MethodOptions
) -> PreTrainedModel:
    """The original model (the ANN reference row)."""
    return model


def calibration_inputs(
    method: str, tokenizer: PreTrainedTokenizerBase, options: MethodOptions
) -> list[dict]:
    """``options.batches``, else calibration batches of ``options.data``; ``ValueError`` naming
    ``method`` when there are neither."""
    if options.batches is not None:
        return options.batches
    if options.data is None:
        raise ValueError(
            f"method {method!r} needs calibration artifacts, batches or a calibration data config"
        )
    return data.calibration_batches(tokenizer, options.data, options.task)


def las_calibration(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, options: MethodOptions
) -> Calibration:
    """Calibration from artifacts when both are given, else collected on
    :func:`calibration_inputs`.

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
    batches = calibration_inputs("las", tokenizer, options)
    calibration, _ = calibrate_model(model, batches, options.conversion, options.rule)
    values = {site: list(pair) for site, pair in sorted(calibration.thresholds.items())}
    calibration.meta["thresholds_hash"] = config_hash(values)
    return calibration


def from_folder(name: str, model: PreTrainedModel, options: MethodOptions) -> PreTrainedModel:
    """``options.converted`` applied to ``model``; ``ValueError`` if it is of another method."""
    converted = options.converted
    if converted.method != name:
        raise ValueError(
            f"{converted.path} is a {converted.method!r} model; method={name!r} cannot apply it "
            f"(use method={converted.method} or none)"
        )
    return converted.apply(model)


def las_method(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, options: MethodOptions
) -> PreTrainedModel:
    """LAS conversion of ``model`` in place (weights are shared, no second copy)."""
    if options.converted is not None:
        return from_folder("las", model, options)
    calibration = las_calibration(model, tokenizer, options)
    converted = convert_model(model, calibration, options.conversion, inplace=True)
    converted.las_thresholds_hash = calibration.meta["thresholds_hash"]
    return converted


def fas_method(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, options: MethodOptions
) -> PreTrainedModel:
    """FAS (M9) from a converted folder: the fine-tuned weights and IF neurons it holds."""
    if options.converted is None:
        raise ValueError(
            "method 'fas' needs a converted folder (pretrained=<convert folder>): its weights "
            "come from the finetune_qcfs stage and its neurons from calibrate_fas"
        )
    return from_folder("fas", model, options)


def naive_method(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, options: MethodOptions
) -> PreTrainedModel:
    """The naive baseline (M10) in place: from a converted folder, or thresholds taken on the
    fly from statistics of ``options.batches`` or ``options.data``."""
    if options.converted is not None:
        return from_folder("naive", model, options)
    batches = calibration_inputs("naive", tokenizer, options)
    observers = collect_statistics(model, batches, options.conversion)
    thresholds = naive_thresholds(observers.stats, observers.roles, options.percentile)
    converted = convert_naive(model, thresholds, options.conversion)
    converted.las_thresholds_hash = config_hash(dict(sorted(thresholds.items())))
    return converted


METHODS: dict[str, Method] = {
    "none": no_conversion,
    "las": las_method,
    "fas": fas_method,
    "naive": naive_method,
}


def apply_method(
    name: str, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, options: MethodOptions
) -> PreTrainedModel:
    """``METHODS[name](model, tokenizer, options)``; ``ValueError`` naming the known methods."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}")
    return METHODS[name](model, tokenizer, options)
