"""las: loss-less ANN-SNN conversion of transformer language models (METHOD.md)."""

from las.conversion import Calibration, ConversionConfig, convert
from las.modes import Mode

__version__ = "0.1.0"

__all__ = ["Calibration", "ConversionConfig", "Mode", "__version__", "convert"]
