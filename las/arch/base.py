"""Architecture adapters: where the spiking sites of each model family are (METHOD.md M2, M5).

An adapter only *declares* a family's layout; :mod:`las.conversion.build` does the replacing, the
same way for every family. Within each transformer block:

* every linear layer gets an OAT neuron on its input (attention input, Q/K/V/O projections, FFN
  input and hidden): :class:`las.ops.SpikingLinear`;
* the attention module gets a spike-equivalent core (OAT on Q, K, V; spike products ``QK^T`` and
  ``PV``; spiking softmax, its reference the spiking row max of MT-encoded scores, M13) through
  the registered ``las`` attention function;
* the FFN nonlinearity becomes an HG neuron: fused into the first linear map (plain FFN) or a
  :class:`las.ops.SpikingFFN` (gated FFN: SwiGLU/GeGLU; OAT on ``up``, so ``gate x up`` is a
  spike product; a fused ``gate_up`` map is split along features, free);
* every LayerNorm/RMSNorm becomes its spiking version (q/k norms inside attention included);
* an attention-score soft-cap ``c tanh(s / c)`` (Gemma 2) becomes an HG tanh inside the core.

Outside the blocks: the adapter's extra norms, its :class:`Projector` modules (linear maps around
one activation, such as a vision tower's patch merger) and the output head. A :class:`Composite`
(a vision-language model) declares sub-models instead, each converted with the adapter of its own
config, plus projectors between them (the multimodal projector).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PretrainedConfig

#: Hugging Face activation names -> HG function registry names (las.fitting.functions).
ACTIVATIONS = {
    "silu": "silu",
    "swish": "silu",
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "quick_gelu": "quick_gelu",
    "relu": "relu",
}


@dataclass(frozen=True)
class GatedFFN:
    """A gated FFN module ``down(act(gate(x)) * up(x))`` at ``path`` inside each block.

    ``activation``: the activation module inside it (where FAS puts QCFS, on the gate, M9).
    ``up``: None when ``gate`` names one fused map whose output halves are ``[gate, up]``, gate
    first (Phi-3's ``gate_up_proj``, split with ``chunk(2, dim=-1)``).
    """

    path: str
    gate: str = "gate_proj"
    up: str | None = "up_proj"
    down: str = "down_proj"
    activation: str = "act_fn"


@dataclass(frozen=True)
class PlainFFN:
    """``fc2(act(fc1(x)))``: paths inside each block of the first linear map and the activation.

    ``second``: the linear map the activation feeds (``fc2``), where FAS's IF neuron sits as
    that map's input (M9); None where no FAS conversion is declared (projectors).
    """

    first: str
    activation: str
    second: str | None = None


def hg_activation(owner: str, act: str) -> str:
    """The HG function name of the Hugging Face activation ``act``; ``ValueError`` if none."""
    if act not in ACTIVATIONS:
        raise ValueError(
            f"{owner}: activation {act!r} has no HG neuron; supported: "
            f"{', '.join(sorted(ACTIVATIONS))}"
        )
    return ACTIVATIONS[act]


@dataclass(frozen=True)
class Projector:
    """Linear maps around one activation outside the blocks (multimodal projector, patch merger).

    Converted like a plain FFN: the activation fuses into ``ffn.first`` as an HG neuron and every
    other linear map and norm inside becomes spiking.

    Attributes:
        path: regex matched against module paths (relative to the model declaring it).
        ffn: paths inside the module of the first linear map and of the activation.
        activation: Hugging Face activation name, used when ``activation_key`` is None.
        activation_key: config attribute naming the activation (read from the declaring model).
    """

    path: str
    ffn: PlainFFN
    activation: str = "gelu"
    activation_key: str | None = None

    def hg_function(self, config: PretrainedConfig) -> str:
        """The HG function name of this projector's activation under ``config``."""
        act = getattr(config, self.activation_key) if self.activation_key else self.activation
        return hg_activation(f"projector {self.path!r}", act)


@dataclass(frozen=True)
class Adapter:
    """The layout of one architecture family.

    Attributes:
        name: family name (registry key).
        model_types: ``config.model_type`` values it handles.
        blocks: regex matched against module paths of the ``nn.ModuleList`` of blocks.
        attention: path of the attention module inside a block.
        ffn: the FFN layout.
        extra_norms: regex of norm modules outside blocks to convert (final norm, embedding norm),
            or None.
        activation_keys: config attributes naming the FFN activation, first found wins.
        head: path of the output head (``lm_head``) converted when the config asks for it.
        projectors: FFN-like modules outside the blocks (e.g. a patch merger).
        norm_offset: RMSNorm scale is ``norm_offset + weight`` (Gemma: ``1 + w``, M5 RMSNorm).
        attention_softcap: config attribute of the attention-score soft-cap ``c`` of
            ``c tanh(s / c)``, which the family's attention passes as ``softcap``; where it is
            set, the attention core gets an HG tanh site (``softcap``), or None.
    """

    name: str
    model_types: tuple[str, ...]
    blocks: str
    attention: str
    ffn: GatedFFN | PlainFFN
    extra_norms: str | None
    activation_keys: tuple[str, ...] = ("hidden_act", "activation_function")
    head: str | None = "lm_head"
    projectors: tuple[Projector, ...] = ()
    norm_offset: float = 0.0
    attention_softcap: str | None = None

    def activation(self, config: PretrainedConfig) -> str:
        """The HG function name of the FFN activation in ``config``."""
        for key in self.activation_keys:
            act = getattr(config, key, None)
            if isinstance(act, str):
                return hg_activation(self.name, act)
        raise ValueError(f"{self.name}: config names no activation in {self.activation_keys}")

    def softcap(self, config: PretrainedConfig) -> float | None:
        """The attention-score soft-cap of ``config`` (None: the family has none or it is off)."""
        return getattr(config, self.attention_softcap, None) if self.attention_softcap else None


@dataclass(frozen=True)
class Composite:
    """A model assembled from sub-models (a vision-language model).

    Each part is a ``PreTrainedModel`` with its own config, converted with the adapter registered
    for that config's ``model_type`` (site names keep the full path from the composite's root).

    Attributes:
        name: family name (registry key).
        model_types: ``config.model_type`` values it handles.
        parts: regex matched against module paths of the sub-models (vision tower, language model).
        projectors: FFN-like modules between the parts (the multimodal projector).
        head: path of the output head (``lm_head``) converted when the config asks for it.
    """

    name: str
    model_types: tuple[str, ...]
    parts: str
    projectors: tuple[Projector, ...] = ()
    head: str | None = "lm_head"


Layout = Adapter | Composite
_REGISTRY: dict[str, Layout] = {}


def register(adapter: Layout) -> Layout:
    """Add ``adapter`` to the registry under each of its model types."""
    for model_type in adapter.model_types:
        _REGISTRY[model_type] = adapter
    return adapter


def supported_model_types() -> list[str]:
    """All registered ``config.model_type`` values."""
    return sorted(_REGISTRY)


def adapter_for(config: PretrainedConfig) -> Layout:
    """The layout of ``config.model_type``; ``ValueError`` listing the supported types if none."""
    model_type = getattr(config, "model_type", None)
    if model_type not in _REGISTRY:
        raise ValueError(
            f"unsupported architecture {model_type!r}; supported model types: "
            f"{', '.join(supported_model_types())}"
        )
    return _REGISTRY[model_type]
