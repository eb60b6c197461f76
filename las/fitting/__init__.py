"""Fitting of HG neurons to the nonlinearities of a transformer (METHOD.md M4)."""

from las.fitting.functions import FUNCTIONS, TargetFunction, target_function
from las.fitting.hg_fit import HGFitReport, fit_hg_neuron

__all__ = ["FUNCTIONS", "HGFitReport", "TargetFunction", "fit_hg_neuron", "target_function"]
