"""Spike-equivalent operators as modules: what a converted model is built from (M5, M6).

Each module takes and returns accumulated activations (float tensors, like the float operator it
replaces), so it drops into a ``transformers`` model; inside, ``mode`` selects closed forms
(``fast``) or the per-step simulation of spike trains (``spike``). Weights are shared with the
original module, never copied.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from las.modes import Mode
from las.neurons.base import SpikingNeuron
from las.ops import functional
from las.ops.backend import Sim, make_sim


class SpikingOp(nn.Module):
    """Base of spiking operator modules: neurons in ``self.neurons``, ``T`` steps, a ``mode``."""

    def __init__(self, neurons: dict[str, nn.Module], T: int) -> None:
        super().__init__()
        self.neurons = nn.ModuleDict(neurons)
        self.T = T
        self.mode = Mode.FAST

    def run(self, fn: Callable[..., Tensor], *inputs: Tensor, **kwargs) -> Tensor:
        """Lift the inputs, apply ``fn(sim, *values, **kwargs)``, return the accumulated output."""
        sim: Sim = make_sim(self.mode, self.T)
        return sim.accumulate(fn(sim, *(sim.lift(x) for x in inputs), **kwargs))


class SpikingLinear(SpikingOp):
    """OAT on the input, then the linear map (M2, M5); optionally an HG nonlinearity after it.

    ``neurons``: ``input`` (OAT) and optionally ``activation`` (HG): the fused form replaces a
    linear layer whose output feeds an activation function directly (FFN ``fc1 -> act``), so that
    in spike mode the HG operator consumes the linear map's train per step. ``weight`` is
    ``[out, in]``, or ``[in, out]`` with ``transposed`` (GPT-2's ``Conv1D``).
    """

    def __init__(
        self,
        weight: Tensor,
        bias: Tensor | None,
        neurons: dict[str, nn.Module],
        T: int,
        transposed: bool = False,
    ) -> None:
        super().__init__(neurons, T)
        self.weight, self.bias, self.transposed = weight, bias, transposed
        out_features, in_features = weight.shape[::-1] if transposed else weight.shape
        self.in_features, self.out_features = in_features, out_features

    def _forward(self, sim: Sim, x: Tensor) -> Tensor:
        weight = self.weight.t() if self.transposed else self.weight
        out = sim.linear(sim.encode(self.neurons["input"], x), weight, self.bias)
        if "activation" in self.neurons:
            out = sim.nonlinear(self.neurons["activation"], out)
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.run(self._forward, x)


class SpikingLayerNorm(SpikingOp):
    """LayerNorm over the last dim (see :func:`las.ops.functional.spiking_layer_norm`)."""

    def __init__(
        self, weight: Tensor | None, bias: Tensor | None, eps: float, neurons: dict, T: int
    ) -> None:
        super().__init__(neurons, T)
        self.weight, self.bias, self.eps = weight, bias, eps

    def forward(self, x: Tensor) -> Tensor:
        return self.run(
            functional.spiking_layer_norm,
            x,
            neurons=self.neurons,
            weight=self.weight,
            bias=self.bias,
            eps=self.eps,
        )


class SpikingRMSNorm(SpikingOp):
    """RMSNorm over the last dim (see :func:`las.ops.functional.spiking_rms_norm`).

    The scale is ``weight``, or with ``offset`` (Gemma's ``1 + w``) ``offset + weight`` computed
    as Gemma's module computes it, ``1 + weight.float()`` in float32, then cast to the input's
    dtype (exact for float32 and float64 inputs; rounded once more in bfloat16).
    """

    def __init__(
        self, weight: Tensor | None, eps: float, neurons: dict, T: int, offset: float = 0.0
    ) -> None:
        super().__init__(neurons, T)
        self.weight, self.eps, self.offset = weight, eps, offset

    def scale(self, dtype: torch.dtype) -> Tensor | None:
        """The effective scale for inputs of ``dtype`` (the weight itself without an offset)."""
        if self.weight is None or not self.offset:
            return self.weight
        return (self.offset + self.weight.float()).to(dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.run(
            functional.spiking_rms_norm,
            x,
            neurons=self.neurons,
            weight=self.scale(x.dtype),
            eps=self.eps,
        )


class SpikingFFN(SpikingOp):
    """FFN block (see :func:`las.ops.functional.spiking_ffn`): plain or gated (SwiGLU/GeGLU).

    Gated with ``w_gate`` (separate gate and up maps, ``w_in`` the up map) or with
    ``fused_gate`` (``w_in`` one fused map whose output halves are ``[gate, up]``: Phi-3).
    """

    def __init__(
        self,
        w_in: Tensor,
        b_in: Tensor | None,
        w_out: Tensor,
        b_out: Tensor | None,
        neurons: dict,
        T: int,
        w_gate: Tensor | None = None,
        b_gate: Tensor | None = None,
        fused_gate: bool = False,
    ) -> None:
        super().__init__(neurons, T)
        if fused_gate and w_gate is not None:
            raise ValueError("a fused gate map comes with no separate w_gate")
        self.w_in, self.b_in, self.w_out, self.b_out = w_in, b_in, w_out, b_out
        self.w_gate, self.b_gate, self.fused_gate = w_gate, b_gate, fused_gate

    @property
    def gated(self) -> bool:
        """Whether the hidden value is ``act(gate) * up`` (separate or fused maps)."""
        return self.fused_gate or self.w_gate is not None

    @property
    def input_width(self) -> int:
        """Output elements of the maps reading the input: gate and up (or their fused map)."""
        return self.w_in.shape[0] + (0 if self.w_gate is None else self.w_gate.shape[0])

    def forward(self, x: Tensor) -> Tensor:
        return self.run(
            functional.spiking_ffn,
            x,
            neurons=self.neurons,
            w_in=self.w_in,
            b_in=self.b_in,
            w_out=self.w_out,
            b_out=self.b_out,
            w_gate=self.w_gate,
            b_gate=self.b_gate,
            fused_gate=self.fused_gate,
        )


class SpikingAttentionCore(SpikingOp):
    """``softmax(q k^T * scaling) v`` with spike products and spiking softmax.

    See :func:`las.ops.functional.spiking_attention_core`; ``keep`` masks keys (True = attend);
    ``softcap`` (Gemma 2) caps the scores with the HG tanh neuron ``softcap``.
    """

    def __init__(self, neurons: dict, T: int, offset: functional.SoftmaxOffset = "max") -> None:
        super().__init__(neurons, T)
        self.offset = offset

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        scaling: float,
        keep: Tensor | None = None,
        softcap: float | None = None,
    ) -> Tensor:
        return self.run(
            functional.spiking_attention_core,
            q,
            k,
            v,
            neurons=self.neurons,
            scaling=scaling,
            keep=keep,
            offset=self.offset,
            softcap=softcap,
        )


def set_mode(module: nn.Module, mode: Mode | str) -> None:
    """Set the simulation mode of every spiking neuron and operator inside ``module``."""
    mode = Mode.parse(mode)
    for child in module.modules():
        if isinstance(child, SpikingNeuron | SpikingOp):
            child.mode = mode
