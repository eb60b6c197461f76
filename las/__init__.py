"""las: loss-less ANN-SNN conversion of transformer language models (METHOD.md)."""

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
