"""las: loss-less ANN-SNN conversion of transformer language models (METHOD.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from las.lazy import exports

if TYPE_CHECKING:
    from las.conversion import Calibration, ConversionConfig, convert_model
    from las.converted import load_converted
    from las.modes import Mode

__version__ = "0.1.0"

__all__ = [
    "Calibration",
    "ConversionConfig",
    "Mode",
    "__version__",
    "convert_model",
    "load_converted",
]

__getattr__, __dir__ = exports(
    __name__,
    {
        "Calibration": "las.conversion",
        "ConversionConfig": "las.conversion",
        "Mode": "las.modes",
        "convert_model": "las.conversion",
        "load_converted": "las.converted",
    },
)
