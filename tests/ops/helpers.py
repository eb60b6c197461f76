"""Neurons sized from data for operator tests (a minimal stand-in for calibration)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from las.fitting import fit_hg_neuron
from las.neurons import MTNeuron, OATNeuron


def oat_for(x: Tensor, T: int = 16, q: float = 0.95) -> OATNeuron:
    """OAT with theta_out above |x|'s max and theta_nor at its q-quantile."""
    a = x.detach().abs().double().flatten()
    out = float(a.max()) * 1.05 + 1e-3
    nor = min(max(float(torch.quantile(a, q)), out * 1e-3), out * 0.5)
    return OATNeuron(nor, out, T=T)


def softmax_neurons(scores: Tensor, T: int = 16) -> dict[str, nn.Module]:
    """HG exp on [min - max score spread, one score code step], HG 1/x on [1, n], MT(tau=1) for
    probabilities, MT above |scores|' max for the codes the row max compares (M13)."""
    spread = float(scores.max() - scores.min()) + 1.0
    tau = float(scores.detach().abs().max()) * 1.05 + 1e-3
    return {
        "exp": fit_hg_neuron("exp", -spread, 2 * tau * 2.0**-T)[0],
        "reciprocal": fit_hg_neuron("reciprocal", 1.0, scores.shape[-1])[0],
        "probability": MTNeuron(1.0, T=T),
        "score": MTNeuron(tau, T=T),
    }


def norm_neurons(x: Tensor, T: int = 16) -> dict[str, nn.Module]:
    """Neurons of a LayerNorm/RMSNorm on ``x`` (both use the same keys)."""
    centred = x - x.mean(-1, keepdim=True)
    top = float(x.abs().max()) * 2 + 1
    return {
        "input": oat_for(x, T),
        "square": fit_hg_neuron("square", 2.0**-14, top)[0],
        "rsqrt": fit_hg_neuron("rsqrt", 2.0**-14, top**2)[0],
        "centred": oat_for(centred, T),
        "output": OATNeuron(4.0, 64.0, T=T),
    }
