"""The ``las`` model type of lm-eval: Hugging Face's ``HFLM`` with a conversion method applied.

Importing this module registers ``las`` with lm-eval's model registry (``las-eval`` and
:func:`las.evaluation.harness.evaluate_pair` import it). Model arguments, besides ``HFLM``'s own
(``batch_size``, ``max_length``, ``dtype``, ``device``, ...; any other key is refused):

* ``pretrained``: a hub id or local path (loaded by ``HFLM``), ``embedded:<asset>``
  (``conf/assets.yaml``, offline), ``tiny:<family>`` (random weights, proves code paths only),
  or a converted-model folder of the ``convert`` stage (its method, conversion and calibration
  are fixed by the folder: ``method`` is the folder's or ``none`` for its original, no other
  switch);
* ``method``: ``none`` (the original network), ``las``, ``fas`` (from a converted folder only),
  ``naive`` (:data:`las.evaluation.methods.METHODS`);
* ``thresholds``/``bank``: calibration artifacts of the pipeline; without them ``las`` calibrates
  on the fly on ``calibration_data`` (a ``conf/data`` config name, ``calibration_sequences``
  sequences, rule ``calibration_rule``);
* ``model_id``: identity recorded in results and checked against artifacts (default: the
  ``pretrained`` id, or the instance's ``name_or_path``); ``revision`` is ``HFLM``'s;
* ``T``, ``mode``, ``code``, ``oat``, ``hg``, ``spike_attention``, ``threshold_scale``,
  ``softmax_offset``, ``convert_head``: the fields of :class:`las.ConversionConfig`, checked by
  it (no coercion);
* placement, as for ``HFLM``: ``device``, and ``parallelize=True`` with ``max_memory_per_gpu``,
  ``max_cpu_memory`` and ``offload_folder`` (accelerate's device map with CPU and disk offload).
  The model is loaded on the CPU, converted, then placed (:func:`las.offload.dispatch`): the
  converted modules are the ones accelerate's hooks wrap.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from accelerate.utils import get_max_memory
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils import Collator
from lm_eval.models.utils_hf import pad_and_concat
from tqdm import tqdm

from las import data, models
from las.calibration.rules import RuleConfig
from las.config import ConfigError, checked
from las.conversion import ConversionConfig
from las.converted import MANIFEST, ConvertedModel
from las.evaluation.methods import MethodOptions, apply_method
from las.offload import dispatch

SOURCES = ("embedded", "tiny")
CONVERSION_KEYS = frozenset(f.name for f in fields(ConversionConfig))
HFLM_KEYS = frozenset(inspect.signature(HFLM.__init__).parameters) - {"self", "kwargs"}
#: ``HFLM``'s accelerate arguments, applied by ``las`` after the conversion.
ACCELERATE_KEYS = ("parallelize", "max_memory_per_gpu", "max_cpu_memory", "offload_folder")


def split_model_args(
    kwargs: dict[str, Any], harness_keys: frozenset[str] = HFLM_KEYS, model: str = "HFLM"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(conversion fields, harness-model arguments) of ``kwargs``; :class:`ConfigError` for
    others (``harness_keys``: the arguments the harness model ``model`` takes)."""
    if unknown := sorted(set(kwargs) - CONVERSION_KEYS - harness_keys):
        raise ConfigError(
            f"unknown las model argument(s) {unknown}; conversion keys: "
            f"{', '.join(sorted(CONVERSION_KEYS))}; las keys: method, thresholds, bank, "
            f"calibration_data, calibration_sequences, calibration_rule, model_id; and {model}'s"
        )
    conversion = {k: v for k, v in kwargs.items() if k in CONVERSION_KEYS}
    return conversion, {k: v for k, v in kwargs.items() if k not in CONVERSION_KEYS}


def _load_named(pretrained: str) -> models.LoadedModel:
    """An ``embedded:<asset>`` or ``tiny:<family>`` model; encoders are refused by name."""
    source, ident = pretrained.split(":", 1)
    what = f"pretrained={pretrained}"
    spec = checked(models.ModelSpec, what, name=ident, source=source, id=ident)
    if source == "embedded" and (task := models.asset_task(ident)) != "causal_lm":
        raise ValueError(
            f"pretrained={pretrained} is an {task} model; lm-eval's 'las' model scores causal "
            "LMs (log-likelihoods). Measure an encoder with the evaluate stage: "
            "python -m las.evaluate model=<its conf/model name>"
        )
    return models.load(spec)


def _execution_device(model: Any) -> str | int:
    """Where a dispatched model takes its inputs: the device of its first placed module."""
    placed = [d for d in model.hf_device_map.values() if d != "disk"]
    return f"cuda:{placed[0]}" if placed and isinstance(placed[0], int) else "cpu"


def available_device(device: str) -> str:
    """``device``, or as ``HFLM`` does for a device this machine lacks (lm-eval's own default is
    ``cuda:0``): the CPU, with a warning naming it."""
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            f"device {device!r} is not available here; las-eval runs on the CPU", stacklevel=3
        )
        return "cpu"
    return device


class Converting:
    """What the ``las`` harness models add to theirs: ``options`` (:class:`MethodOptions`), the
    method applied once in place (:meth:`apply`) and the identity every row records."""

    options: MethodOptions
    method: str

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


@register_model("las")
class LASLM(Converting, HFLM):
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
        model_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        switches, hf_args = split_model_args(kwargs)
        placement = {k: hf_args.pop(k) for k in ACCELERATE_KEYS if k in hf_args}
        converted, loaded = None, None
        if isinstance(pretrained, str | Path) and (Path(pretrained) / MANIFEST).is_file():
            if switches or thresholds or bank:
                raise ConfigError(
                    f"{pretrained} is a converted model: its conversion and calibration are "
                    f"fixed; drop {sorted(switches) + (['thresholds/bank'] if thresholds else [])}"
                )
            converted = ConvertedModel.read(pretrained)
            loaded = converted.load_original()  # any source: embedded, tiny or hub
        elif isinstance(pretrained, str) and pretrained.split(":", 1)[0] in SOURCES:
            loaded = _load_named(pretrained)
        revision = hf_args.get("revision")
        if loaded is not None:
            pretrained, model_id, revision = loaded.model, loaded.model_id, loaded.revision
            hf_args.setdefault("tokenizer", loaded.tokenizer)
            device = hf_args.pop("device", None)
        else:
            device = None
            if placement.get("parallelize"):
                hf_args["device"] = "cpu"  # loaded on the CPU, placed after the conversion
            if model_id is None:
                model_id = pretrained if isinstance(pretrained, str) else pretrained.name_or_path
        conversion = converted.conversion if converted else None
        conversion = conversion or checked(ConversionConfig, "las model_args", **switches)
        super().__init__(pretrained=pretrained, **hf_args)
        self.options = MethodOptions(
            conversion=conversion,
            thresholds=Path(thresholds) if thresholds else None,
            bank=Path(bank) if bank else None,
            converted=converted,
            data=data.data_config(calibration_data, calibration_sequences),
            rule=checked(RuleConfig, "calibration_rule", name=calibration_rule),
            model_id=model_id,
            revision=revision,
        )
        self.method = "none"
        self.apply("none" if method is None else str(method))
        self.place(device, **placement)

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        """``HFLM``'s, on the documents longest first; the scores in the order of ``requests``.

        ``HFLM`` batches the rolling windows in request order and pads each batch to its
        longest window (its ``loglikelihood`` sorts by length; this does not): on documents of
        mixed lengths most of the work was padding (100 held-out prose documents: 69 % more
        tokens than they have; sorted, 5 %). Each document's score is its own windows' sum.
        """
        order = sorted(range(len(requests)), key=lambda i: -len(requests[i].args[0]))
        scores = super().loglikelihood_rolling([requests[i] for i in order], disable_tqdm)
        ordered = [0.0] * len(requests)
        for i, score in zip(order, scores, strict=True):
            ordered[i] = score
        return ordered

    def _loglikelihood_tokens(
        self,
        requests: list[tuple[tuple[str, str] | None, list[int], list[int]]],
        disable_tqdm: bool = False,
        override_bs: int | None = None,
    ) -> list[tuple[float, bool]]:
        """``HFLM``'s scores (log-likelihood of each continuation, whether it is greedy), with
        the output head and the log-softmax run only where a continuation is scored.

        ``HFLM`` computes the logits at every position of every padded window and keeps the
        continuation's: a multiple-choice item of a few hundred context tokens and a one-token
        answer ran the head (Qwen2.5-Coder: 151,936 x 896, Gemma-3: 262,144 x 640, more than
        its 18 blocks) and a log-softmax over the vocabulary on every context token. Here each
        batch keeps its last ``K`` positions (``logits_to_keep``), ``K`` the least that holds
        every row's continuation; the blocks see the same windows, so the scores are those of
        ``HFLM`` (same order, batches, one-token-continuation sharing, left truncation to
        ``max_length``, cache hook). Requests go to ``HFLM`` as they are when the backend is not
        causal, the batch size is ``auto`` or the model's forward takes no ``logits_to_keep``.
        """
        size = override_bs or self.batch_size
        forward = inspect.signature(self.model.forward).parameters
        if self.backend != "causal" or not str(size).isdigit() or "logits_to_keep" not in forward:
            return super()._loglikelihood_tokens(requests, disable_tqdm, override_bs)
        order = Collator(
            requests,
            sort_fn=lambda r: (-len(r[1]) - len(r[2]), tuple(r[1] + r[2])),
            group_by="contexts" if self.logits_cache else None,
            group_fn=lambda r: r[-2] + r[-1][:-1],
        )
        scores: list[tuple[float, bool]] = []
        bar = tqdm(
            total=len(requests),
            disable=disable_tqdm or self.rank != 0,
            desc="Running loglikelihood requests",
        )
        for chunk in order.get_batched(n=int(size)):
            windows = [self._window(context, continuation) for _, context, continuation in chunk]
            lengths = [len(w) for w in windows]  # before pad_and_concat pads the list in place
            width = max(lengths)
            keep = max(width - n + len(c) for n, (_, _, c) in zip(lengths, chunk, strict=True))
            inputs = pad_and_concat(width, windows, padding_side="right")
            logprobs = F.log_softmax(
                self._kept_logits(inputs, keep), dim=-1, dtype=self.softmax_dtype
            )  # [batch, keep, vocab]: window positions width - keep .. width - 1
            for (key, context, continuation), length, rows in zip(
                chunk, lengths, logprobs, strict=True
            ):
                end = keep - (width - length)
                rows = rows[end - len(continuation) : end].unsqueeze(0)
                greedy = rows.argmax(dim=-1)
                for request, tokens, logits in order.get_cache(
                    req_str=key, cxt_toks=context, cont_toks=continuation, logits=rows
                ):
                    target = torch.tensor(tokens, dtype=torch.long, device=self.device)[None]
                    answer = (
                        float(logits.gather(2, target[..., None]).sum()),
                        bool((greedy[:, -target.shape[1] :] == target).all()),
                    )
                    scores.append(answer)
                    if request is not None:  # rolling windows are cached per document
                        self.cache_hook.add_partial("loglikelihood", request, answer)
                    bar.update(1)
        bar.close()
        return order.get_original(scores)

    def _window(self, context: list[int], continuation: list[int]) -> torch.Tensor:
        """The model's input for one request: context and continuation less the last token,
        truncated from the left to ``max_length`` tokens (with a warning, as ``HFLM``)."""
        tokens = context + continuation
        if len(tokens) > self.max_length + 1:
            warnings.warn(
                f"context ({len(context)}) and continuation ({len(continuation)}) tokens exceed "
                f"max_length {self.max_length}: truncated from the left",
                stacklevel=3,
            )
        return torch.tensor(tokens[-(self.max_length + 1) :][:-1], device=self.device)

    def _kept_logits(self, inputs: torch.Tensor, keep: int) -> torch.Tensor:
        """Logits ``[batch, keep, vocab]`` of the last ``keep`` positions of ``inputs``
        (``[batch, width]`` token ids), under ``HFLM``'s no-grad and autocast settings."""
        with (
            torch.no_grad(),
            torch.autocast(
                device_type=self.device.type,
                dtype=self.mixed_precision_dtype,
                enabled=self.mixed_precision_dtype is not None,
            ),
        ):
            return self.model(inputs, logits_to_keep=keep).logits

    def place(
        self,
        device: str | None = None,
        parallelize: bool | None = False,
        max_memory_per_gpu: int | str | None = None,
        max_cpu_memory: int | str | None = None,
        offload_folder: str | None = "./offload",
    ) -> None:
        """Put the (converted) model on ``device``, or with ``parallelize`` over the GPUs, the
        CPU and ``offload_folder`` (:func:`las.offload.dispatch`) under ``HFLM``'s limits:
        ``max_memory_per_gpu`` on each GPU (default: what it has free), ``max_cpu_memory``
        (default: what the machine has); the rest goes to disk."""
        if parallelize:
            max_memory = {k: v for k, v in get_max_memory().items() if k != "cpu"}
            if max_memory_per_gpu is not None:
                max_memory = dict.fromkeys(max_memory, max_memory_per_gpu)
            if max_cpu_memory is not None:
                max_memory["cpu"] = max_cpu_memory
            self._model = dispatch(self._model, max_memory, offload_folder)
            self._device = torch.device(_execution_device(self._model))
        elif device is not None:
            device = available_device(device)
            self._model.to(device)
            self._device = torch.device(device)
