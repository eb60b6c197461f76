"""Architecture adapters, registered by ``config.model_type``."""

from las.arch import families as families
from las.arch.base import (
    ACTIVATIONS,
    Adapter,
    Composite,
    GatedFFN,
    PlainFFN,
    Projector,
    adapter_for,
    supported_model_types,
)

__all__ = [
    "ACTIVATIONS",
    "Adapter",
    "Composite",
    "GatedFFN",
    "PlainFFN",
    "Projector",
    "adapter_for",
    "families",
    "supported_model_types",
]
