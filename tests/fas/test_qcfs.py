"""QCFS (METHOD.md M9): the formula, its straight-through gradient, the sites it replaces."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from las.arch.tiny import tiny_inputs, tiny_model
from las.fas.qcfs import QCFS, ffn_sites, qcfs, swap_qcfs
from las.neurons import IFNeuron


def reference_qcfs(z: float, lam: float, L: int) -> float:
    import math

    return lam / L * min(max(math.floor(z * L / lam + 0.5), 0), L)


@given(
    z=st.lists(st.floats(-4, 4), min_size=1, max_size=32),
    lam=st.floats(0.1, 3.0),
    L=st.integers(1, 16),
)
def test_qcfs_matches_its_formula(z, lam, L):
    x = torch.tensor(z, dtype=torch.float64)
    got = qcfs(x, torch.tensor(lam, dtype=torch.float64), L)
    expected = torch.tensor([reference_qcfs(v, lam, L) for v in z], dtype=torch.float64)
    assert torch.allclose(got, expected, rtol=0, atol=1e-12)


def test_straight_through_gradient_is_the_piecewise_formula():
    L, lam_value = 8, 1.5
    z = torch.linspace(-1.0, 2.5, 301, dtype=torch.float64, requires_grad=True)
    lam = torch.tensor(lam_value, dtype=torch.float64, requires_grad=True)
    a = qcfs(z, lam, L)
    a.sum().backward()
    code = torch.floor(z.detach() * L / lam_value + 0.5)
    inside = (code >= 0) & (code <= L)
    above = code > L
    expected_dz = inside.double()
    expected_dlam = torch.where(inside, code / L - z.detach() / lam_value, above.double())
    assert torch.equal(z.grad, expected_dz)
    assert torch.allclose(lam.grad, expected_dlam.sum(), atol=1e-9)


@given(x=st.lists(st.floats(-3, 3), min_size=1, max_size=64), lam=st.floats(0.2, 2.0))
def test_if_neuron_with_theta_lam_and_T_L_is_qcfs(x, lam):
    """At inference QCFS becomes IF (M9): theta = lam, v(0) = theta/2, T = L: the same outputs."""
    z = torch.tensor(x, dtype=torch.float64)
    neuron = IFNeuron(lam, T=8)
    theta = neuron.theta.double()
    assert torch.allclose(neuron(z), qcfs(z, theta, 8), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("family", "path", "gated"),
    [
        ("llama", "model.layers.0.mlp.act_fn", True),
        ("gpt2", "transformer.h.0.mlp.act", False),
        ("phi3", "model.layers.0.mlp.activation_fn", True),  # fused gate_up_proj
        ("gemma2", "model.layers.0.mlp.act_fn", True),
        ("gpt_neox", "gpt_neox.layers.0.mlp.act", False),
    ],
)
def test_swap_replaces_every_ffn_activation_and_nothing_else(family, path, gated):
    model = tiny_model(family)
    sites = ffn_sites(model)
    assert sites[0].name == path and len(sites) == model.config.num_hidden_layers
    assert sites[0].gated == gated
    modules = swap_qcfs(model, dict.fromkeys((s.name for s in sites), 0.5))
    assert all(isinstance(model.get_submodule(s.name), QCFS) for s in sites)
    seen = []
    handle = modules[path].register_forward_hook(lambda m, a, out: seen.append(out))
    with torch.no_grad():
        model(**tiny_inputs(family))
    handle.remove()
    levels = seen[0] * 8 / 0.5
    assert torch.allclose(levels, levels.round(), atol=1e-4) and float(seen[0].max()) <= 0.5


def test_composite_models_are_refused():
    with pytest.raises(ValueError, match="single-stack"):
        ffn_sites(tiny_model("llava"))
