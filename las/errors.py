"""Errors raised by the library, each naming its cause and the fix."""

from __future__ import annotations


class NonFiniteActivationError(ValueError):
    """A NaN or Inf reached a spiking layer.

    ``site`` names the insertion site (e.g. ``model.layers.3.mlp.down_proj.input``) when the layer
    belongs to a converted model, so the user knows where the original network overflowed.
    """

    def __init__(self, site: str | None, n_nan: int, n_inf: int) -> None:
        where = f"at site '{site}'" if site else "at an unnamed neuron"
        super().__init__(
            f"non-finite input {where}: {n_nan} NaN and {n_inf} Inf values. Spiking neurons "
            "encode finite activations only; check the original model's output at this site "
            "(overflow in fp16? use bf16/fp32) and the calibration data."
        )
        self.site = site
