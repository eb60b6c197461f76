"""Load the model a stage works on: an embedded asset, a hub model or a tiny random model.

transformers and the tiny models (:mod:`las.arch.tiny`) are imported by the functions that load a
model: a stage that only reads a :class:`ModelSpec` (``convert``, ``calibrate``, ``tables``) does
not pay for their import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch

from las.config import Name, Str, typed

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

Source = Literal["embedded", "hub", "tiny"]
Task = Literal["causal_lm", "encoder", "sequence_classification", "vision_language"]
#: The transformers class that loads a hub model of each task (an encoder: its base model).
AUTO = {
    "causal_lm": "AutoModelForCausalLM",
    "encoder": "AutoModel",
    "sequence_classification": "AutoModelForSequenceClassification",
    "vision_language": "AutoModelForImageTextToText",
}
DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
DType = Literal["float32", "float64", "bfloat16"]
EMBEDDED_DEFAULT = "smollm2-135m"


@typed
class ModelSpec:
    """Which model: ``name`` (used in paths and tables), where it comes from and how to load it.

    ``source``: ``embedded`` (``id`` is an asset of ``conf/assets.yaml``), ``hub`` (``id`` a
    Hugging Face repo, ``revision`` pinned) or ``tiny`` (``id`` a family of
    :mod:`las.arch.tiny`, random weights: proves code paths, never accuracy). ``task``: how it
    loads (:data:`AUTO`): a causal LM, a base encoder, an encoder with its sequence-classification
    head (a fine-tuned GLUE checkpoint), or a vision-language model.
    """

    name: Name
    source: Source
    id: Str
    revision: Str | None = None
    task: Task = "causal_lm"
    dtype: DType = "float32"

    def require_task(self, task: Task, stage: str, why: str) -> None:
        """Raise ``ValueError`` naming ``stage`` and ``why`` unless the model's task is ``task``."""
        if self.task != task:
            raise ValueError(f"{stage} {why}; {self.name} is a model of task {self.task!r}")

    def __post_init__(self) -> None:
        if self.source == "hub" and not self.revision:
            raise ValueError(f"hub model {self.id!r} needs a pinned revision (commit hash)")
        known = _known_ids(self.source)
        if known is not None and self.id not in known:
            raise ValueError(f"unknown {self.source} model {self.id!r}; known: {', '.join(known)}")


def auto_class(task: Task) -> type:
    """The transformers class of :data:`AUTO` that loads a model of ``task``."""
    import transformers

    return getattr(transformers, AUTO[task])


def asset_task(asset_id: str) -> Task:
    """Whether the embedded asset ``asset_id`` is a ``causal_lm`` or an ``encoder``."""
    from las import assets

    return assets.asset_spec(asset_id).task


def _known_ids(source: str) -> list[str] | None:
    """The ids a ``source`` offers (None for the hub: any repo id)."""
    if source == "tiny":
        from las.arch.tiny import BUILDERS, VLM_BUILDERS

        return sorted(BUILDERS | VLM_BUILDERS)
    if source == "embedded":
        from las import assets

        return assets.model_asset_ids()
    return None


@dataclass
class LoadedModel:
    """A model in eval mode, its tokenizer, and the identity recorded in every artifact."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    model_id: str
    revision: str


def default_cache() -> Path:
    """Where downloads go: ``$LAS_CACHE`` or ``resources/assets`` under the working directory."""
    return Path(os.environ.get("LAS_CACHE", "resources/assets"))


def load(spec: ModelSpec, cache_dir: Path | None = None) -> LoadedModel:
    """Load ``spec`` (offline for embedded and tiny models)."""
    dtype = DTYPES[spec.dtype]
    if spec.source == "tiny":
        from las.arch.tiny import byte_tokenizer, tiny_model

        model = tiny_model(spec.id, dtype)
        return LoadedModel(model, byte_tokenizer(), f"tiny-{spec.id}", "seed0")
    if spec.source == "embedded":
        from las import assets

        cache = cache_dir or default_cache()
        asset = assets.asset_spec(spec.id)
        task = "causal_lm" if spec.task == "causal_lm" else "base"
        model, tokenizer = assets.load_model(spec.id, cache, task=task)
        return LoadedModel(model.to(dtype).eval(), tokenizer, spec.id, asset.revision)
    return _load_hub(spec, dtype, cache_dir or default_cache())


def load_empty(
    spec: ModelSpec, scratch: Path, cache_dir: Path | None = None
) -> tuple[LoadedModel, Path]:
    """``spec``'s model built on the meta device (no weights in memory) and the folder of its
    safetensors checkpoint, for layer-by-layer calibration (:mod:`las.calibration.sequential`).

    A tiny model is built and saved into ``scratch`` first (it is small); embedded and hub
    models are read where :func:`load` reads them.
    """
    from transformers import AutoConfig, AutoTokenizer

    from las import assets
    from las.arch.tiny import byte_tokenizer, tiny_model
    from las.calibration.sequential import empty_model

    cache = cache_dir or default_cache()
    auto = auto_class(spec.task)
    if spec.source == "tiny":
        folder, tokenizer = scratch / f"tiny-{spec.id}", byte_tokenizer()
        tiny_model(spec.id, DTYPES[spec.dtype]).save_pretrained(folder)
        model_id, revision = f"tiny-{spec.id}", "seed0"
    else:
        if spec.source == "embedded":
            asset = assets.asset_spec(spec.id)
            folder, revision = assets.materialize(asset, cache), asset.revision
            auto = auto_class("causal_lm" if spec.task == "causal_lm" else "encoder")
        else:
            folder, revision = assets.fetch_hub_model(spec.id, spec.revision, cache), spec.revision
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model_id = spec.id
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    model = empty_model(auto, config, DTYPES[spec.dtype])
    return LoadedModel(model, tokenizer, model_id, revision), Path(folder)


def _load_hub(spec: ModelSpec, dtype: torch.dtype, cache: Path) -> LoadedModel:
    from transformers import AutoTokenizer

    from las import assets

    path = assets.fetch_hub_model(spec.id, spec.revision, cache, allow_patterns=None)
    model = auto_class(spec.task).from_pretrained(path, dtype=dtype, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return LoadedModel(model, tokenizer, spec.id, spec.revision)
