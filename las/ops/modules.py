"""Spike-equivalent operators as modules: what a converted model is built from (M5, M6).

Each module takes and returns accumulated activations (float tensors, like the float operator it
replaces), so it drops into a ``transformers`` model; inside, ``mode`` selects closed forms
(``fast``) or the per-step simulation of spike trains (``spike``). Weights are shared with the
original module, never copied.
"""

from __future__ import annotations

from collections.abc import Callable

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

    ``weight`` is the effective scale (for Gemma-style ``1 + w`` norms the adapter passes that).
    """

    def __init__(self, weight: Tensor | None, eps: float, neurons: dict, T: int) -> None:
        super().__init__(neurons, T)
        self.weight, self.eps = weight, eps

    def forward(self, x: Tensor) -> Tensor:
        return self.run(
            functional.spiking_rms_norm, x, neurons=self.neurons, weight=self.weight, eps=self.eps
        )


class SpikingFFN(SpikingOp):
    """FFN block (see :func:`las.ops.functional.spiking_ffn`): plain or gated (SwiGLU/GeGLU)."""

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
    ) -> None:
        super().__init__(neurons, T)
        self.w_in, self.b_in, self.w_out, self.b_out = w_in, b_in, w_out, b_out
        self.w_gate, self.b_gate = w_gate, b_gate

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
        )


class SpikingAttentionCore(SpikingOp):
    """``softmax(q k^T * scaling) v`` with spike products and spiking softmax.

    See :func:`las.ops.functional.spiking_attention_core`; ``keep`` masks keys (True = attend).
    """

    def __init__(self, neurons: dict, T: int, offset: functional.SoftmaxOffset = "max") -> None:
        super().__init__(neurons, T)
        self.offset = offset

    def forward(
        self, q: Tensor, k: Tensor, v: Tensor, scaling: float, keep: Tensor | None = None
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
        )


def set_mode(module: nn.Module, mode: Mode | str) -> None:
    """Set the simulation mode of every spiking neuron and operator inside ``module``."""
    mode = Mode.parse(mode)
    for child in module.modules():
        if isinstance(child, SpikingNeuron | SpikingOp):
            child.mode = mode
