"""Layer-by-layer calibration: one block's weights in memory at a time (METHOD.md M7).

The statistics of :func:`las.calibration.collect_statistics` for a model too large to load,
computed the way llm-compressor's sequential onloading and NVIDIA Model Optimizer's layer-wise
calibration do it:

1. the model is built on the meta device (``accelerate.init_empty_weights``), observers placed at
   every site (:func:`las.conversion.build.build_spiking`), and only the weights outside the
   blocks (embeddings, final norm, head) are read from the checkpoint;
2. one forward pass per batch, with every block's ``forward`` replaced by a recorder, captures the
   first block's input and the arguments each block gets (masks, position embeddings: Gemma's
   and Qwen's sliding-window blocks get their own mask), then stops before the blocks;
3. for each block in turn: its weights are read (``accelerate``'s ``set_module_tensor_to_device``
   from the safetensors checkpoint), every batch goes through it with the observers recording,
   its outputs are kept on CPU as the next block's inputs, its weights return to the meta device
   and a checkpoint is written (statistics, samples, outputs);
4. a last pass per batch replays the last block's output into the model to observe the sites
   after the blocks (final norm, head).

Peak memory: the weights outside the blocks, one block's weights, one batch's activations and
the hidden states of the calibration set (``batches x tokens x hidden``, on CPU). Every site
sees the tensors it sees in the whole model, in the same batch order, and the samples are keyed
per site (:class:`las.calibration.stats.Reservoir`), so the artifact equals the whole-model one.
A run killed between blocks resumes at the next block from its checkpoint and writes the same
artifact; a checkpoint of another run (another fingerprint) is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import init_empty_weights
from accelerate.utils import set_module_tensor_to_device
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from tqdm.auto import tqdm
from transformers import PreTrainedModel
from transformers.conversion_mapping import get_model_conversion_mapping
from transformers.core_model_loading import WeightConverter, WeightRenaming, rename_source_key

from las.arch import Composite, adapter_for
from las.calibration.observe import Observer, ObserverFactory
from las.calibration.stats import SiteStats
from las.conversion.build import blocks, build_spiking
from las.conversion.config import ConversionConfig

STATE = "state.safetensors"


class CheckpointReader:
    """The tensors of ``model`` (built on the meta device) from a ``from_pretrained`` folder of
    safetensors (one file or sharded), under transformers' own renaming of checkpoint keys
    (legacy names such as GPT-NeoX's ``embed_out``, a base model's prefix).

    ``ValueError`` if the folder has no safetensors weights (``pytorch_model.bin`` checkpoints
    must be converted first: ``save_pretrained`` of the loaded model writes safetensors) or
    needs a weight conversion beyond renaming (fused experts), which loading by layer does not do.
    """

    def __init__(self, folder: Path, model: PreTrainedModel) -> None:
        folder = Path(folder)
        index = folder / "model.safetensors.index.json"
        if index.exists():
            weight_map = json.loads(index.read_text())["weight_map"]
            files = {key: folder / name for key, name in weight_map.items()}
        elif (folder / "model.safetensors").exists():
            with safe_open(folder / "model.safetensors", "pt") as f:
                files = {key: folder / "model.safetensors" for key in f.keys()}  # noqa: SIM118
        else:
            raise ValueError(
                f"{folder} holds no safetensors weights (model.safetensors or its index); "
                "layer-by-layer calibration reads safetensors: save the model with "
                "save_pretrained(..., safe_serialization=True) first"
            )
        mapping = get_model_conversion_mapping(model)
        renamings = [m for m in mapping if isinstance(m, WeightRenaming)]
        converters = [m for m in mapping if isinstance(m, WeightConverter)]
        meta = model.state_dict()
        self.files, self.keys = files, {}
        for key in files:
            name, converted = rename_source_key(
                key, renamings, converters, model.base_model_prefix, meta
            )
            if converted is not None:
                raise ValueError(
                    f"{folder}: tensor {key!r} needs a weight conversion ({converted!r}); "
                    "layer-by-layer calibration reads tensors as stored: use sequential=false"
                )
            self.keys[name if name in meta else key] = key

    def key(self, names: Sequence[str]) -> str:
        """The checkpoint key of the model tensor known under ``names`` (tied: several)."""
        for name in names:
            if name in self.keys:
                return self.keys[name]
        raise ValueError(f"checkpoint has no tensor for the model's {list(names)}")

    def read(self, key: str) -> Tensor:
        """The tensor stored under ``key``."""
        with safe_open(self.files[key], "pt") as f:
            return f.get_tensor(key)


def empty_model(auto: Any, config: Any, dtype: torch.dtype) -> PreTrainedModel:
    """The model of the ``transformers`` auto class ``auto`` for ``config``, every parameter on
    the meta device (no memory; buffers such as RoPE frequencies are computed for real)."""
    with init_empty_weights():
        model = auto.from_config(config, dtype=dtype)
    model.tie_weights()  # as from_pretrained does: a tied head shares the embedding's tensor
    return model.eval()


Slot = tuple[str, str]  # (path of the owning module, attribute name)


class Onloader:
    """Reads the weights of parts of a meta-device model from its checkpoint, and frees them.

    Built from the model before the observers are placed: it records the checkpoint key of every
    meta tensor by the tensor itself, then (:meth:`place`) by the slot it holds in the converted
    model, whose modules keep the original tensor objects under new paths.
    """

    def __init__(self, model: PreTrainedModel, reader: CheckpointReader, device: torch.device):
        self.reader, self.device, self.dtype = reader, device, model.dtype
        names: dict[int, list[str]] = {}
        tensors = [
            *model.named_parameters(remove_duplicate=False),
            *model.named_buffers(remove_duplicate=False),
        ]
        for name, tensor in tensors:
            if tensor.is_meta:
                names.setdefault(id(tensor), []).append(name)
        self._keys = {i: reader.key(n) for i, n in names.items()}
        self.slots: dict[Slot, str] = {}

    def place(self, model: nn.Module) -> None:
        """Record the checkpoint key of every slot of the (converted) ``model``."""
        for path, owner in model.named_modules(remove_duplicate=False):
            for attr, tensor in {**owner._parameters, **owner._buffers}.items():
                if tensor is not None and id(tensor) in self._keys:
                    self.slots[(path, attr)] = self._keys[id(tensor)]

    def _under(self, prefixes: Sequence[str], inside: bool) -> list[tuple[Slot, str]]:
        def within(path: str) -> bool:
            return any(path == p or path.startswith(f"{p}.") for p in prefixes)

        return [(slot, key) for slot, key in self.slots.items() if within(slot[0]) == inside]

    def load(self, model: nn.Module, prefixes: Sequence[str], inside: bool = True) -> None:
        """Read the tensors of the slots under (or, ``inside=False``, outside) the module paths
        ``prefixes`` of ``model``; a key shared by several slots (tied weights) is read once."""
        shared: dict[str, Tensor] = {}
        for (path, attr), key in self._under(prefixes, inside):
            owner = model.get_submodule(path)
            if key in shared:
                setattr(owner, attr, shared[key])
                continue
            tensor = self.reader.read(key)
            dtype = self.dtype if tensor.is_floating_point() else None
            set_module_tensor_to_device(owner, attr, self.device, value=tensor, dtype=dtype)
            shared[key] = getattr(owner, attr)

    def offload(self, model: nn.Module, prefixes: Sequence[str]) -> None:
        """Return the tensors of the slots under ``prefixes`` to the meta device (freed)."""
        for (path, attr), _ in self._under(prefixes, True):
            set_module_tensor_to_device(model.get_submodule(path), attr, "meta")


class _StopForwardError(Exception):
    """Raised by the last block's recorder: the capture pass needs nothing after the blocks."""


@dataclass
class Captured:
    """What each block gets for one batch: its positional arguments after the hidden state and
    its keyword arguments (per block: masks differ between sliding-window and global blocks)."""

    hidden: Tensor
    calls: list[tuple[tuple, dict[str, Any]]]


def _hidden(args: tuple, kwargs: dict[str, Any]) -> tuple[Tensor, tuple, dict[str, Any]]:
    if args:
        return args[0], args[1:], kwargs
    rest = dict(kwargs)
    return rest.pop("hidden_states"), (), rest


def _first(output: Any) -> Tensor:
    return output if isinstance(output, Tensor) else output[0]


def capture(model: nn.Module, layers: Sequence[nn.Module], batch: Mapping[str, Tensor]) -> Captured:
    """Run ``model`` on ``batch`` up to its blocks, recording what each block gets."""
    calls: list[tuple[tuple, dict[str, Any]]] = []
    first: list[Tensor] = []

    def recorder(index: int) -> Callable[..., Any]:
        def forward(*args: Any, **kwargs: Any) -> Any:
            hidden, rest, extra = _hidden(args, kwargs)
            if index == 0:
                first.append(hidden)
            calls.append((rest, extra))
            if index == len(layers) - 1:
                raise _StopForwardError
            return hidden

        return forward

    with _forwards(layers, recorder), contextlib.suppress(_StopForwardError):
        model(**batch)
    return Captured(first[0].cpu(), calls)


def replay(
    model: nn.Module, layers: Sequence[nn.Module], batch: Mapping[str, Tensor], last: Tensor
) -> None:
    """Run ``model`` on ``batch`` with its blocks replaced: the first returns ``last`` (the last
    block's output), the others pass it on, so the sites after the blocks see what they see in
    the whole model."""

    def passer(index: int) -> Callable[..., Any]:
        def forward(*args: Any, **kwargs: Any) -> Any:
            return last if index == 0 else _hidden(args, kwargs)[0]

        return forward

    with _forwards(layers, passer):
        model(**batch)


@contextlib.contextmanager
def _forwards(layers: Sequence[nn.Module], make: Callable[[int], Callable]) -> Iterator[None]:
    """Context: every module of ``layers`` has ``make(index)`` as its ``forward``."""
    for i, layer in enumerate(layers):
        layer.forward = make(i)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


def _save_state(
    folder: Path, done: int, hidden: list[Tensor], observers: ObserverFactory, fingerprint: str
) -> None:
    """Checkpoint after ``done`` blocks: the hidden states, then (committing) the statistics."""
    save_file({f"b{i}": h.contiguous() for i, h in enumerate(hidden)}, folder / "hidden.tmp")
    os.replace(folder / "hidden.tmp", folder / f"hidden-{done}.safetensors")
    tensors: dict[str, Tensor] = {}
    for site, stats in observers.stats.items():
        tensors |= stats.to_tensors(f"stats.{site}")
    for fn, reservoir in observers.samples.items():
        tensors[f"keys.{fn}"], tensors[f"values.{fn}"] = reservoir.keys, reservoir.values
    meta = {"done": str(done), "fingerprint": fingerprint}
    save_file(tensors, folder / "state.tmp", metadata=meta)
    os.replace(folder / "state.tmp", folder / STATE)
    for old in folder.glob("hidden-*.safetensors"):
        if old.name != f"hidden-{done}.safetensors":
            old.unlink()


def _resume(folder: Path, observers: ObserverFactory, fingerprint: str) -> tuple[int, list[Tensor]]:
    """Blocks done and the next block's inputs from the checkpoint in ``folder`` (0 and [] if
    none), the statistics restored into ``observers``; ``ValueError`` for another run's."""
    path = folder / STATE
    if not path.exists():
        return 0, []
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    if meta.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{folder} holds the layer checkpoints of another collect run (fingerprint "
            f"{meta.get('fingerprint')}, this run {fingerprint}); delete the folder or give "
            "this run its own checkpoint_dir=..."
        )
    tensors = load_file(path)
    for site, stats in observers.stats.items():
        vars(stats).update(vars(SiteStats.from_tensors(tensors, f"stats.{site}")))
    for fn, reservoir in observers.samples.items():
        reservoir.keys, reservoir.values = tensors[f"keys.{fn}"], tensors[f"values.{fn}"]
    done = int(meta["done"])
    hidden = load_file(folder / f"hidden-{done}.safetensors")
    return done, [hidden[f"b{i}"] for i in range(len(hidden))]


def run_block(layer: nn.Module, hidden: Tensor, call: tuple[tuple, dict[str, Any]]) -> Tensor:
    """One block on one batch: its output hidden state (on the input's device)."""
    rest, kwargs = call
    return _first(layer(hidden, *rest, **kwargs))


def collect_sequential(
    model: PreTrainedModel,
    checkpoint: Path,
    batches: Iterable[Mapping[str, Tensor]],
    folder: Path,
    fingerprint: str,
    cfg: ConversionConfig | None = None,
    per_channel: bool = False,
    device: torch.device | str = "cpu",
) -> ObserverFactory:
    """:func:`las.calibration.collect_statistics`, one block's weights in memory at a time.

    ``model``: the model built on the meta device (:func:`empty_model`) whose weights are the
    safetensors ``checkpoint`` folder; ``folder``: where the per-block checkpoints go (resumed
    from when they carry ``fingerprint``, removed when the run completes). The statistics,
    roles and samples equal those of :func:`las.calibration.collect_statistics` on the loaded
    model (module docstring). ``ValueError`` for a composite (vision-language) model, a model
    with weights already loaded, or a checkpoint folder of another run.
    """
    layout = adapter_for(model.config)
    if isinstance(layout, Composite):
        raise ValueError(
            f"layer-by-layer calibration runs single-stack models; {layout.name} is a composite "
            "of sub-models: set sequential=false (whole-model collect) for it"
        )
    if not any(p.is_meta for p in model.parameters()):
        raise ValueError("collect_sequential takes a model built on the meta device (empty_model)")
    cfg = cfg or ConversionConfig()
    device = torch.device(device)
    onloader = Onloader(model, CheckpointReader(checkpoint, model), device)
    observers = ObserverFactory(per_channel=per_channel)
    observed = build_spiking(
        model,
        observers,
        spike_attention=cfg.spike_attention,
        softmax_offset=cfg.softmax_offset,
        convert_head=cfg.convert_head,
    )
    onloader.place(observed)
    found = blocks(observed, layout)
    paths, layers = [p for p, _ in found], [b for _, b in found]
    onloader.load(observed, paths, inside=False)
    if hasattr(observed.config, "use_cache"):
        observed.config.use_cache = False  # no cache of every block's keys and values
    batches = [{k: v.to(device) for k, v in b.items()} for b in batches]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        captured = [capture(observed, layers, b) for b in batches]
        done, hidden = _resume(folder, observers, fingerprint)
        hidden = hidden or [c.hidden for c in captured]
        for index in tqdm(range(done, len(layers)), desc="collect layers", unit="layer"):
            onloader.load(observed, [paths[index]])
            hidden = [
                run_block(layers[index], h.to(device), c.calls[index]).cpu()
                for h, c in zip(hidden, captured, strict=True)
            ]
            onloader.offload(observed, [paths[index]])
            _save_state(folder, index + 1, hidden, observers, fingerprint)
        for observer in observed.modules():  # the sites before the blocks are observed
            if isinstance(observer, Observer) and observer.stats.count:
                observer.recording = False
        for batch, h in zip(batches, hidden, strict=True):
            replay(observed, layers, batch, h.to(device))
    shutil.rmtree(folder)
    return observers
