"""Architecture adapters: where the spiking sites of each model family are (METHOD.md M2, M5).

An adapter only *declares* a family's layout; :mod:`las.conversion.build` does the replacing, the
same way for every family. Within each transformer block:

* every linear layer gets an OAT neuron on its input (attention input, Q/K/V/O projections, FFN
  input and hidden): :class:`las.ops.SpikingLinear`;
* the attention module gets a spike-equivalent core (OAT on Q, K, V; spike products ``QK^T`` and
  ``PV``; spiking softmax) through the registered ``las`` attention function;
* the FFN nonlinearity becomes an HG neuron: fused into the first linear map (plain FFN) or a
  :class:`las.ops.SpikingFFN` (gated FFN: SwiGLU/GeGLU);
* every LayerNorm/RMSNorm becomes its spiking version.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """A gated FFN module ``down(act(gate(x)) * up(x))`` at ``path`` inside each block."""

    path: str
    gate: str = "gate_proj"
    up: str = "up_proj"
    down: str = "down_proj"


@dataclass(frozen=True)
class PlainFFN:
    """``fc2(act(fc1(x)))``: paths inside each block of the first linear map and the activation."""

    first: str
    activation: str


@dataclass(frozen=True)
class Adapter:
    """The layout of one architecture family.

    Attributes:
        name: family name (registry key).
        model_types: ``config.model_type`` values it handles.
        blocks: regex matched against module paths of the ``nn.ModuleList`` of blocks.
        attention: path of the attention module inside a block.
        ffn: the FFN layout.
        extra_norms: regex of norm modules outside blocks to convert (final norm, embedding norm).
        activation_keys: config attributes naming the FFN activation, first found wins.
        head: path of the output head (``lm_head``) converted when the config asks for it.
    """

    name: str
    model_types: tuple[str, ...]
    blocks: str
    attention: str
    ffn: GatedFFN | PlainFFN
    extra_norms: str
    activation_keys: tuple[str, ...] = ("hidden_act", "activation_function")
    head: str | None = "lm_head"

    def activation(self, config: PretrainedConfig) -> str:
        """The HG function name of the FFN activation in ``config``."""
        for key in self.activation_keys:
            act = getattr(config, key, None)
            if isinstance(act, str):
                if act not in ACTIVATIONS:
                    raise ValueError(
                        f"{self.name}: activation {act!r} has no HG neuron; supported: "
                        f"{', '.join(sorted(ACTIVATIONS))}"
                    )
                return ACTIVATIONS[act]
        raise ValueError(f"{self.name}: config names no activation in {self.activation_keys}")


_REGISTRY: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    """Add ``adapter`` to the registry under each of its model types."""
    for model_type in adapter.model_types:
        _REGISTRY[model_type] = adapter
    return adapter


def supported_model_types() -> list[str]:
    """All registered ``config.model_type`` values."""
    return sorted(_REGISTRY)


def adapter_for(config: PretrainedConfig) -> Adapter:
    """The adapter of ``config.model_type``; ``ValueError`` listing the supported types if none."""
    model_type = getattr(config, "model_type", None)
    if model_type not in _REGISTRY:
        raise ValueError(
            f"unsupported architecture {model_type!r}; supported model types: "
            f"{', '.join(supported_model_types())}"
        )
    return _REGISTRY[model_type]
