"""A calibrated tiny LLaMA shared by the energy tests (calibration takes a few seconds)."""

from __future__ import annotations

import pytest

from las.arch.tiny import tiny_inputs, tiny_model
from las.calibration import calibrate_model


@pytest.fixture(scope="session")
def tiny_llama():
    """(float model, calibration) of the tiny LLaMA, calibrated on four seeded batches."""
    model = tiny_model("llama")
    calibration, _ = calibrate_model(model, [tiny_inputs("llama", seed=s) for s in range(4)])
    return model, calibration
