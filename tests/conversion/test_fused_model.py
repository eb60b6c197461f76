"""Model level, float32: fused fast mode == eager fast mode bit for bit; spike mode within a bound.

The fused closed forms (``las.neurons.compiled``, ``las.ops.fused``) are forced onto every tensor
of a tiny converted LLaMA (their size thresholds lowered to 1), so each neuron and the softmax
run compiled. Spike mode in float32 keeps its trains in float32 (M6, README "Numerics"): each
step's partial sum rounds at 2**-24 relative, and a rounding that crosses a code boundary moves
that code by one unit (``theta / 2**16``) and the values downstream of it. The bound, ``1e-3``
of the largest logit (about 64 such units at ``theta`` near the logit scale), is that argument
with margin; measured: about ``3e-5``. (float64 makes the same comparison tight: ``test_convert``.)
"""

from __future__ import annotations

import torch

from las import convert_model
from las.neurons import compiled
from las.ops import fused, set_mode
from tests.conversion.test_convert import calibrated, run


def test_fused_fast_mode_is_the_eager_fast_mode_and_spike_mode_is_close(monkeypatch):
    model, calibration = calibrated("llama")
    snn = convert_model(model, calibration)
    monkeypatch.setattr(compiled, "ENABLED", False)
    eager = run(snn, "llama").logits
    monkeypatch.setattr(compiled, "ENABLED", True)
    monkeypatch.setattr(compiled, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(fused, "COMPILE_MIN_ELEMENTS", 1)
    monkeypatch.setattr(fused, "ROW_BLOCK", 3)  # causal blocks leave out masked keys
    fast = run(snn, "llama").logits
    assert torch.equal(fast, eager)
    set_mode(snn, "spike")
    spike = run(snn, "llama").logits
    assert (spike - fast).abs().max() <= 1e-3 * fast.abs().max()
