"""las: loss-less ANN-SNN conversion of transformer language models (METHOD.md)."""

from las.modes import Mode

__version__ = "0.1.0"

__all__ = ["Mode", "__version__"]
