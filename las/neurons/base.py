"""The neuron base: validation, the mode switch and the step loop (METHOD.md M6).

Numerics (the contract every neuron keeps):

* thresholds and fitted parameters are stored as float32 buffers; on a call they are first cast to
  the input's dtype (so every spike weight ``tau * 2**-t`` is exactly representable in it);
* neuron arithmetic runs in float64, except the MT/OAT codes of float32 and bfloat16 inputs,
  which run in float32 where that is provably just as exact (:func:`compute_dtype`). With
  float32 parameters and ``T <= MAX_T`` every spike weight and every partial sum of a train is
  exact in float64, so ``spikes(x).sum(0, dtype=torch.float64)`` rounded to ``x.dtype`` equals
  ``neuron(x)`` bit for bit, and ``fast`` and ``spike`` mode return the same tensor.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from las.errors import NonFiniteActivationError
from las.modes import Mode

#: Largest supported number of time steps: float32 mantissa (24 bits) + T bits must fit in float64's
#: 53-bit mantissa for the train to sum exactly.
MAX_T = 29

ThresholdLike = float | Tensor


def check_steps(T: int, name: str = "T") -> int:
    """Return ``T`` if it is an integer in ``[1, MAX_T]``, else raise ``ValueError`` naming it."""
    if isinstance(T, bool) or not isinstance(T, int) or not 1 <= T <= MAX_T:
        raise ValueError(f"{name} must be an integer in [1, {MAX_T}], got {T!r}")
    return T


def as_threshold(value: ThresholdLike, name: str) -> Tensor:
    """Validate a threshold (scalar, per-tensor or per-channel) and return it as float32.

    Raises ``ValueError`` naming ``name`` if any entry is not finite or not strictly positive.
    """
    tensor = torch.as_tensor(value, dtype=torch.float32).detach().clone()
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite, got {value!r}")
    if (tensor <= 0).any():
        raise ValueError(f"{name} must be > 0 everywhere, got min {tensor.min().item():g}")
    return tensor


def compute_dtype(x: Tensor, T: int) -> torch.dtype:
    """Arithmetic dtype of a bit-serial neuron on input ``x`` with ``T`` steps.

    float32 for float32 and bfloat16 inputs when ``T <= 24``: codes are integers below ``2**24``,
    threshold subtractions are exact (Sterbenz) and ``q * (tau 2**-T)`` rounds once, exactly as
    the float64 sum of the train does, so both modes still agree bit for bit. float64 otherwise
    (float64 inputs; float16, whose 11-bit thresholds times a 16-bit code would round twice).
    """
    return (
        torch.float32 if x.dtype in (torch.float32, torch.bfloat16) and T <= 24 else torch.float64
    )


def threshold_for(
    param: Tensor, x: Tensor, name: str, dtype: torch.dtype = torch.float64
) -> Tensor:
    """Broadcast a stored threshold to ``x``: cast to ``x.dtype``, then to ``dtype``.

    Raises ``ValueError`` naming ``name`` when its shape does not broadcast to ``x.shape``
    (per-channel thresholds align with the trailing dimensions of ``x``).
    """
    if param.shape != x.shape[x.dim() - param.dim() :]:  # the common case needs no broadcast
        try:
            shape = torch.broadcast_shapes(param.shape, x.shape)
        except RuntimeError:
            shape = None
    else:
        shape = x.shape
    if shape != x.shape:
        raise ValueError(
            f"{name} of shape {tuple(param.shape)} does not broadcast to the input shape "
            f"{tuple(x.shape)}; per-channel thresholds must match the trailing dimensions"
        )
    return param.to(device=x.device, dtype=x.dtype).to(dtype)


def check_finite(x: Tensor, site: str | None) -> None:
    """Raise :class:`NonFiniteActivationError` naming ``site`` if ``x`` holds NaN or Inf.

    One reduction in the common case: a finite sum proves every element finite; only a
    non-finite sum (NaN/Inf inside, or an overflowing sum of finite values) takes the full check.
    The sum is tested on the host (``math.isfinite``): ``torch.isfinite`` of a 0-d tensor is
    half a dozen more tensor operations, which cost as much as the sum on a block activation.
    """
    if math.isfinite(x.sum().item()):
        return
    if not torch.isfinite(x).all():
        n_nan = int(torch.isnan(x).sum())
        raise NonFiniteActivationError(
            site, n_nan, int(x.numel() - torch.isfinite(x).sum()) - n_nan
        )


def float32_from_fields(exponent: Tensor, fraction: Tensor) -> Tensor:
    """The float32 ``(1 + fraction 2**-23) 2**exponent`` from int32 fields: exact, for normal
    numbers (``-126 <= exponent <= 127``, ``0 <= fraction < 2**23``; the caller checks)."""
    return (((exponent + 127) << 23) | fraction).view(torch.float32)


def popcount(code: Tensor) -> Tensor:
    """Number of 1-bits of a non-negative int64 tensor below ``2**32`` (M1), in constant time.

    The classic SWAR reduction: pairwise, then nibble, then byte sums, gathered by a multiply.
    """
    v = code - ((code >> 1) & 0x55555555)
    v = (v & 0x33333333) + ((v >> 2) & 0x33333333)
    v = (v + (v >> 4)) & 0x0F0F0F0F
    return ((v * 0x01010101) & 0xFFFFFFFF) >> 24


class SpikingNeuron(nn.Module, ABC):
    """Base of all neurons: one pure step function plus its closed form.

    Subclasses implement :meth:`init_state`, :meth:`step` and :meth:`closed_form`. The base gives:

    * ``neuron(x)``: the output, same shape and dtype as ``x``; in ``FAST`` mode from the closed
      form, in ``SPIKE`` mode as the float64 sum of the simulated train;
    * ``neuron.spikes(x)``: the weighted spike train, shape ``[steps, *x.shape]``;
    * ``neuron.count(x)``: exact spikes per element (int64) from the closed form.

    The train runs steps ``t = first_step..T``: ``steps = T`` except for a code with a step 0
    (the signed-digit MT code, METHOD.md M11, ``steps = T + 1``).
    """

    first_step: int = 1
    #: Set while a spike count watches the neuron (:func:`las.energy.count_spikes`): a fused
    #: fast-mode pass then also computes the counts of its input and keeps them for
    #: :meth:`count` on that very input (one pass and one compiled graph, not two).
    counting: bool = False
    _kept: tuple[Tensor, tuple[Tensor, ...]] | None = None

    def __init__(self, T: int, site: str | None = None, mode: Mode | str = Mode.FAST) -> None:
        super().__init__()
        self.T = check_steps(T)
        self.site = site
        self.mode = Mode.parse(mode)

    def keep(self, x: Tensor, *counts: Tensor) -> None:
        """Keep ``counts`` of the call on ``x`` (spikes per element first) for :meth:`kept`."""
        self._kept = (x, counts)

    def kept(self, x: Tensor) -> tuple[Tensor, ...] | None:
        """The counts kept by the forward on this very ``x`` (spikes per element first), else
        None; taken once. Identity, not equality: the forward hook of the call receives the same
        tensor object, right after the forward (nothing modifies it in between)."""
        kept, self._kept = self._kept, None
        return kept[1] if kept is not None and kept[0] is x else None

    @abstractmethod
    def init_state(self, x: Tensor) -> Any:
        """State before step 1 for the finite-checked input ``x`` (in its own dtype)."""

    @abstractmethod
    def step(self, state: Any, t: int, fired: bool = True) -> tuple[Tensor, Tensor | None, Any]:
        """Step ``t`` (1-based): return (weighted output, fired mask, next state), float64/bool.

        ``fired=False``: the caller reads only the outputs, and a neuron whose mask is an extra
        pass (a bit-serial one: a boolean tensor per step) may return None in its place.
        """

    @abstractmethod
    def closed_form(self, x: Tensor, count: bool = False) -> tuple[Tensor, Tensor | None]:
        """(float64 output, int64 spikes per element or None) for finite ``x``, in one pass.

        The count is only computed when asked (``count=True``): evaluation does not pay for it.
        """

    @property
    def steps(self) -> int:
        """Length of the neuron's spike train: ``T + 1 - first_step``."""
        return self.T + 1 - self.first_step

    def simulate(self, x: Tensor, fired: bool = True) -> Iterator[tuple[Tensor, Tensor | None]]:
        """Yield (weighted output, fired mask) for steps ``t = first_step..T`` of the simulation;
        ``fired=False``: the masks may be None (:meth:`step`), the outputs are the same."""
        check_finite(x, self.site)
        state = self.init_state(x)
        for t in range(self.first_step, self.T + 1):
            out, mask, state = self.step(state, t, fired)
            yield out, mask

    def spikes(self, x: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        """The weighted spike train ``[steps, *x.shape]`` in ``dtype`` (default ``x.dtype``).

        Holds one train in memory (the result) plus one step of state.
        """
        train = torch.empty((self.steps, *x.shape), dtype=dtype or x.dtype, device=x.device)
        for t, (out, _) in enumerate(self.simulate(x, fired=False)):
            train[t] = out
        return train

    def count(self, x: Tensor) -> Tensor:
        """Exact number of spikes per element (int64, shape of ``x``) from the closed form
        (kept by the forward on ``x`` while :attr:`counting`, else fused where
        :meth:`fused_count` fuses it)."""
        check_finite(x, self.site)
        kept = self.kept(x)
        if kept is not None:
            return kept[0]
        fused = self.fused_count(x)
        return self.closed_form(x, count=True)[1] if fused is None else fused

    def fused_count(self, x: Tensor) -> Tensor | None:
        """The spikes per element as one compiled pass, or None (the default: not fused).

        Subclasses that fuse it return exactly ``closed_form(x, count=True)[1]`` (tested).
        """
        return None

    def fused_value(self, x: Tensor) -> Tensor | None:
        """The fast-mode output as one compiled pass (``las.neurons.compiled``), or None.

        Subclasses that fuse their closed form return exactly ``closed_form(x)[0]`` cast to
        ``x.dtype`` (tested bit for bit); the default does not fuse.
        """
        return None

    def forward(self, x: Tensor) -> Tensor:
        if self.mode is Mode.FAST:
            check_finite(x, self.site)
            fused = self.fused_value(x)
            if fused is not None:
                return fused
            value = self.closed_form(x)[0]
        else:
            value = torch.zeros(x.shape, dtype=torch.float64, device=x.device)
            for out, _ in self.simulate(x, fired=False):
                value += out
        return value.to(x.dtype)

    def extra_repr(self) -> str:
        return f"T={self.T}, mode={self.mode.value}, site={self.site!r}"
