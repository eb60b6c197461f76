"""Hypothesis strategies for neuron inputs and thresholds."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

DTYPES = [torch.float64, torch.float32, torch.bfloat16]


@st.composite
def activations(draw, max_side: int = 6, scale: float = 8.0, dtype: torch.dtype | None = None):
    """A random activation tensor (shape up to 3-d), values in [-scale, scale], given dtype."""
    shape = draw(st.lists(st.integers(1, max_side), min_size=1, max_size=3))
    seed = draw(st.integers(0, 2**31 - 1))
    dtype = dtype or draw(st.sampled_from(DTYPES))
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * scale
    # Include exact codes and threshold-boundary values, where floor/cap rounding bites.
    x.view(-1)[0] = 0.0
    return x.to(dtype)


thresholds = st.floats(1e-3, 16.0, allow_nan=False, allow_infinity=False)
steps = st.integers(1, 20)
