"""MT neuron: multi-threshold, bit-serial, binary (METHOD.md M1) or signed-digit (M11) code, with
``bits <= T`` bits of resolution in a T-step train (M12)."""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

import torch
from torch import Tensor

from las.modes import Mode
from las.neurons import compiled
from las.neurons.base import (
    SpikingNeuron,
    ThresholdLike,
    as_threshold,
    check_steps,
    compute_dtype,
    float32_from_fields,
    threshold_for,
)
from las.neurons.codes import BINARY, BitSerialCode, CodeName, code_named

#: How an MT code rounds ``|x| 2**B / tau`` (:class:`MTNeuron` ``rounding``).
Rounding = Literal["floor", "nearest"]
ROUNDINGS = get_args(Rounding)


class BitSerialState(NamedTuple):
    """Simulation state of a bit-serial encoder: membrane potential in units of ``tau / 2**T``.

    ``scale``: the output of a +1 digit at step ``t`` is ``scale * 2**-t`` (``sign(x) tau`` for
    an MT code, ``delta 2**K`` for an HG segment; an exact product, so the order of the step's
    products does not matter). Units start at the code ``q`` (the floor of ``v(1)``: a
    sub-unit remainder never reaches the smallest threshold, one unit, so the fired bits are
    the same); a neuron with ``bits < T`` (M12) starts at ``q_bits * 2**(T - bits)``, whose
    last ``T - bits`` bits are zero.
    """

    scale: Tensor
    v_units: Tensor


def code_units(magnitude: Tensor, tau: Tensor, T: int, nearest: bool = False) -> Tensor:
    """The T-bit code ``q = min(floor(|x| 2**T / tau), 2**T - 1)`` of M1, in ``magnitude``'s dtype;
    with ``nearest``, ``q = min(floor(|x| 2**T / tau + 1/2), 2**T - 1)`` (round half up).

    ``q`` is ``v(1)`` of M1 in units of ``tau / 2**T``, floored. A rounded float32 quotient can
    land exactly on the integer just above a true quotient; those elements (``q == u``, rare) are
    re-checked with the exact float64 product ``q tau`` (24 x 24 bits) and decremented, so float32
    codes equal the true floor. float64 codes are the floor of the correctly rounded quotient.
    ``nearest`` is the same train with a membrane that starts half a unit up (``v(1) = a + tau
    2**-(T+1)``): its float32 codes are corrected both ways by the exact float64 comparisons of
    :func:`nearest_correction`.
    """
    units = magnitude * 2.0**T / tau
    if nearest:
        q = torch.floor(units + 0.5)
        if magnitude.dtype != torch.float64:
            q = q + nearest_correction(q, magnitude, tau, T)
        return torch.clamp(q, max=2.0**T - 1)
    q = torch.floor(units)
    if magnitude.dtype != torch.float64:
        landed = torch.nonzero((q == units) & (q > 0), as_tuple=True)
        if landed[0].numel():
            taus = tau.expand(q.shape)[landed].double()
            over = q[landed].double() * taus > magnitude[landed].double() * 2.0**T
            q.index_put_(landed, -over.to(q.dtype), accumulate=True)
    return torch.clamp(q, max=2.0**T - 1)


def nearest_correction(q: Tensor, magnitude: Tensor, tau: Tensor, T: int) -> Tensor:
    """-1, 0 or +1 per element: what makes float32 ``q`` the exact ``floor(|x| 2**T / tau + 1/2)``.

    ``q`` is right when ``(2q - 1) tau <= 2 |x| 2**T < (2q + 1) tau``; both sides are exact in
    float64 (a 25-bit integer times a 24-bit threshold; a power-of-two scaling of ``|x|``).
    """
    two_q, taus, twice = 2 * q.double(), tau.double(), magnitude.double() * 2.0 ** (T + 1)
    low = (two_q - 1) * taus > twice
    high = (two_q + 1) * taus <= twice
    return (high.to(q.dtype) - low.to(q.dtype)).to(q.dtype)


def bit_step(
    state: BitSerialState, t: int, T: int, code: BitSerialCode = BINARY, fired: bool = True
) -> tuple[Tensor, Tensor | None, BitSerialState]:
    """One step of M1 (or M11): fire the code's digit of the membrane (:meth:`BitSerialCode.digit`).

    Works in units of ``tau / 2**T``: the spike weight ``tau * 2**-t`` is the power of two
    ``2**(T-t)`` units and the membrane resets by subtracting the fired digit times it. Every
    subtraction is then exact (Sterbenz; integers for MT codes), so the fired digits are exactly
    those of ``code`` (:mod:`las.neurons.codes`): the binary digits of ``q``, or its NAF. Every
    product is exact too (a digit is -1, 0 or 1; the rest are powers of two). Returns (weighted
    output ``scale * digit * 2**-t``, fired mask or None when not ``fired``, next state).
    """
    digit = code.digit(state.v_units, T, t)
    out = torch.mul(state.scale, digit).mul_(2.0**-t)
    v_next = torch.sub(state.v_units, digit, alpha=2.0 ** (T - t))
    return out, digit != 0 if fired else None, BitSerialState(state.scale, v_next)


def bit_serial_closed_form(
    x: Tensor,
    magnitude: Tensor,
    tau: Tensor,
    T: int,
    code: BitSerialCode = BINARY,
    count: bool = False,
    nearest: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """M1 closed form ``(sign(x) q tau / 2**T, code.count(q) if count)`` in the dtype of x, |x|,
    tau: the value is the code's ``q`` whatever its digits (M11); the count is ``popcount(q)``
    for the binary code, the non-zero NAF digits for ``naf``; ``nearest``: ``q`` rounded
    (:func:`code_units`).

    ``tau / 2**T`` is exact (a power-of-two scaling), so the value is one rounding of ``q tau``.
    """
    q = code_units(magnitude, tau, T, nearest)
    return torch.copysign(q * (tau * 2.0**-T), x), code.count(q.long()) if count else None


#: Smallest threshold the fused codes take, ``2**-104``: its ``2**-E`` (:func:`threshold_fields`)
#: is then a normal float32 (smaller, even subnormal, thresholds run the eager closed form).
FUSED_MIN_EXPONENT = -104


def threshold_fields(tau: Tensor) -> Tensor | None:
    """``[3, *tau.shape]`` float32: ``tau``, its integer significand ``M`` and ``2**-E``, where
    ``tau = M 2**E`` and ``2**23 <= M < 2**24``: a threshold in the form the fused codes take
    (:func:`fused_code_units`), or None when some float32 ``tau > 0`` is below
    ``2**FUSED_MIN_EXPONENT``.

    Read from the float32 bit fields, so every entry is exact: ``M`` has 24 bits and ``2**-E =
    2**(23 - exponent)`` is a normal power of two.
    """
    bits = tau.contiguous().view(torch.int32)
    exponent = ((bits >> 23) & 0xFF) - 127
    if not bool((exponent >= FUSED_MIN_EXPONENT).all()):
        return None
    significand = ((bits & 0x7FFFFF) | 0x800000).to(torch.float32)
    power = float32_from_fields(23 - exponent, torch.zeros_like(bits))
    return torch.stack([tau, significand, power])


def _exceeds(n: Tensor, scaled: Tensor, significand: Tensor, power: Tensor) -> Tensor:
    """Whether ``n tau > s`` exactly (``s = scaled``, finite or inf, ``>= 0``), for int64 ``n``
    with ``|n| <= 2**26`` and ``tau = M 2**E`` given as (``M``, ``2**-E``)
    (:func:`threshold_fields`).

    ``n tau > s`` iff ``n M > s 2**-E`` iff ``n M > floor(s 2**-E)``, as ``n M`` is an integer
    (below ``2**50``); compared in int64 (float64 vectors cost several times more on CPU).
    ``s 2**-E`` is a power-of-two scaling: exact unless it underflows (then it and its floor
    are 0, as the exact floor) or overflows (then capped at ``2**62`` like every value above
    it, all beyond any ``n M``), so the int64 floor and the comparison are exact.
    """
    lhs = n * significand.to(torch.int64)
    return lhs > (scaled * power).clamp(max=2.0**62).to(torch.int64)


def fused_code_units(
    x: Tensor, nor: Tensor, out: Tensor | None, T: int, dyadic: bool, nearest: bool = False
) -> tuple[Tensor, Tensor]:
    """(code ``q``, each element's threshold) of the M1 (``out`` None) or M2 code of float32
    ``x``, both float32: the body of :func:`fused_code_value` and :func:`fused_code_count`.
    ``nor`` and ``out`` are thresholds as :func:`threshold_fields` gives them.

    The same operations as :func:`code_units` in float32, with its re-check of quotients
    landing on an integer (``q tau > |x| 2**T``) applied branch-free and exactly in int64
    (:func:`_exceeds`; float64 vectors cost several times more on CPU). ``dyadic``: every
    threshold is a power of two, the quotient is exact and the re-check cannot fire.
    ``nearest``: the rounded code, corrected both ways as :func:`nearest_correction` does.

    The re-checks matter only for ``q <= 2**T - 1`` (a larger ``q`` is capped whatever they
    say), so ``q`` enters them clamped to ``2**T``, as an int64 (``2 q +- 1`` needs 26 bits).
    """
    magnitude = x.abs()
    outlier = None if out is None else magnitude >= nor[0]

    def field(i: int) -> Tensor:
        return nor[i] if out is None else torch.where(outlier, out[i], nor[i])

    tau = field(0)
    scaled = magnitude * 2.0**T
    units = scaled / tau
    if nearest:
        q = torch.floor(units + 0.5)
        n = 2 * q.clamp(max=2.0**T).to(torch.int64)  # a larger q is capped whatever the check
        twice, significand, power = scaled * 2.0, field(1), field(2)
        low = _exceeds(n - 1, twice, significand, power)
        high = ~_exceeds(n + 1, twice, significand, power)
        return torch.clamp(q + high.to(q.dtype) - low.to(q.dtype), max=2.0**T - 1), tau
    q = torch.floor(units)
    if not dyadic:
        landed = (q == units) & (q > 0)
        over = _exceeds(q.clamp(max=2.0**T).to(torch.int64), scaled, field(1), field(2))
        q = q - (landed & over).to(q.dtype)
    return torch.clamp(q, max=2.0**T - 1), tau


def fused_code_value(
    x: Tensor, nor: Tensor, out: Tensor | None, T: int, dyadic: bool, nearest: bool = False
) -> Tensor:
    """The M1 (``out`` None) or M2 closed form value of float32 ``x`` (:func:`fused_code_units`,
    then :func:`bit_serial_closed_form`'s value); one pass when compiled."""
    return _signed_value(x, *fused_code_units(x, nor, out, T, dyadic, nearest), T)


def _signed_value(x: Tensor, q: Tensor, tau: Tensor, T: int) -> Tensor:
    """``sign(x) * q * tau * 2**-T``: the value of the units ``q`` of step ``tau * 2**-T``."""
    return torch.copysign(q * (tau * 2.0**-T), x)


def fused_code_count(
    x: Tensor,
    nor: Tensor,
    out: Tensor | None,
    T: int,
    dyadic: bool,
    nearest: bool,
    code: BitSerialCode,
) -> Tensor:
    """Spikes per element (int64, shape of ``x``) of the M1 or M2 code of float32 ``x`` in
    ``code`` (M1, M11): ``code.count`` of :func:`fused_code_units`' exact ``q``, as
    :func:`bit_serial_closed_form` counts; one pass when compiled (M8's counts)."""
    return code.count(fused_code_units(x, nor, out, T, dyadic, nearest)[0].to(torch.int64))


def fused_code_value_count(
    x: Tensor,
    nor: Tensor,
    out: Tensor | None,
    T: int,
    dyadic: bool,
    nearest: bool,
    code: BitSerialCode,
) -> tuple[Tensor, Tensor]:
    """(:func:`fused_code_value`, :func:`fused_code_count`) of float32 ``x``: the value and the
    spikes per element of one code from one :func:`fused_code_units` (a counted forward, M8)."""
    q, tau = fused_code_units(x, nor, out, T, dyadic, nearest)
    return _signed_value(x, q, tau, T), code.count(q.to(torch.int64))


def is_dyadic(*fields: Tensor) -> bool:
    """Whether every threshold given as :func:`threshold_fields` is a power of two."""
    return all(bool((f[1] == 2.0**23).all()) for f in fields)


class MTNeuron(SpikingNeuron):
    """Multi-threshold neuron (M1): step ``t`` fires weight ``+-tau * 2**-t``.

    Args:
        tau: threshold > 0; a scalar, a 0-d tensor, or a per-channel tensor broadcastable to the
            input (aligned with its trailing dimensions).
        T: bits of the code, ``1 <= T <= MAX_T``.
        site: insertion-site name used in error messages.
        mode: ``fast`` or ``spike``.
        code: ``binary`` (M1: steps ``1..T``, spikes ``tau * 2**-t``) or ``naf`` (M11: the
            non-adjacent form, steps ``0..T``, spikes ``+-tau * 2**-t``; see
            :mod:`las.neurons.codes`).
        bits: bits ``B`` of the code, ``1 <= B <= T`` (default ``T``): the per-site allocation
            of M12. The code is M1's with ``B`` bits (same threshold, resolution ``tau / 2**B``)
            and its train the T-step train of ``q_B * 2**(T - B)``: the first ``B`` steps carry
            ``q_B``'s digits, the last ``T - B`` are silent, so the train keeps the model's
            length and every operator is unchanged.
        rounding: ``floor`` (M1: ``v(1) = a``, the code truncates, every element's error has
            mean ``-tau 2**-(B+1)`` towards zero) or ``nearest`` (``v(1) = a + tau 2**-(B+1)``,
            an initial potential of half the smallest spike: ``q`` is ``|x| 2**B / tau``
            rounded half up, the error has mean about 0). The same train, steps and counts of
            the rounded ``q``; the value is ``sign(x) q tau / 2**B`` for either.

    ``neuron(x)`` returns ``sign(x) * q * tau / 2**B`` with ``q = min(floor(|x| 2**B / tau),
    2**B - 1)`` for either code, computed in :func:`las.neurons.base.compute_dtype` and cast to
    ``x.dtype``; ``count(x)`` is the number of non-zero digits of ``q`` in the code
    (``popcount(q)`` for ``binary``; shifting ``q`` by ``T - B`` changes neither count). The code
    only chooses the digits (one step rule and one count,
    :class:`las.neurons.codes.BitSerialCode`): value, fusion and OAT routing are shared.
    """

    def __init__(
        self,
        tau: ThresholdLike,
        T: int = 16,
        site: str | None = None,
        mode: Mode | str = Mode.FAST,
        code: CodeName | BitSerialCode = "binary",
        bits: int | None = None,
        rounding: Rounding = "floor",
    ) -> None:
        super().__init__(T, site, mode)
        self.bits = T if bits is None else check_steps(bits, "bits")
        if self.bits > T:
            raise ValueError(f"bits must be <= T = {T} (a T-step train), got {bits}")
        if rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
        self.rounding = rounding
        self.code = code_named(code)
        self.first_step = self.code.first_step
        self.register_buffer("tau", as_threshold(tau, "tau"))
        self._fields_cache: tuple | None = None

    def threshold(self, x: Tensor, magnitude: Tensor) -> Tensor:
        """Each element's threshold (broadcastable to ``x``) in ``magnitude``'s dtype."""
        return threshold_for(self.tau, x, "tau", magnitude.dtype)

    def effective_tau(self, x: Tensor) -> Tensor:
        """The float64 threshold applied to each element of ``x``, broadcast to its shape."""
        return self.threshold(x, x.double().abs()).expand(x.shape)

    def fused_thresholds(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """(threshold, None) for :func:`fused_code_value` on float32 ``x`` (shape-checked)."""
        return threshold_for(self.tau, x, "tau", torch.float32), None

    def fused_code(self, x: Tensor) -> tuple[Tensor, Tensor | None, int, bool, bool] | None:
        """``(nor, out, bits, dyadic, nearest)`` of the fused code of float32 ``x`` with ``T <= 24``
        (:func:`fused_code_units`, thresholds as :func:`threshold_fields`), else None (the eager
        closed form runs)."""
        if x.dtype != torch.float32 or self.T > 24 or not compiled.wanted(x):
            return None
        return self.code_arguments(x)

    def code_arguments(self, x: Tensor) -> tuple[Tensor, Tensor | None, int, bool, bool] | None:
        """:meth:`fused_code`'s tuple for float32 ``x`` of any size (``T <= 24``: the caller
        checks), or None when a threshold is outside :func:`threshold_fields`' range."""
        fields = self._fields(self.fused_thresholds(x))
        if fields is None:
            return None
        nor, out, dyadic = fields
        return nor, out, self.bits, dyadic, self.rounding == "nearest"

    def _fields(
        self, thresholds: tuple[Tensor, Tensor | None]
    ) -> tuple[Tensor, Tensor | None, bool] | None:
        """(nor, out as :func:`threshold_fields`, all powers of two) of the thresholds, or None;
        kept while the very threshold tensors are unchanged (same objects, same version
        counters; inference tensors have none and are converted on every call)."""
        versions = tuple(
            None if t is None else object() if t.is_inference() else t._version for t in thresholds
        )  # an object() equals nothing else: inference tensors never hit
        cached = self._fields_cache
        if (
            cached is not None
            and all(a is b for a, b in zip(cached[0], thresholds, strict=True))
            and cached[1] == versions
        ):
            return cached[2]
        nor, out = (None if t is None else threshold_fields(t) for t in thresholds)
        fields = None
        if nor is not None and (out is not None or thresholds[1] is None):
            fields = nor, out, is_dyadic(nor) if out is None else is_dyadic(nor, out)
        self._fields_cache = thresholds, versions, fields
        return fields

    def fused_value(self, x: Tensor) -> Tensor | None:
        """The fast-mode output as one fused pass, for float32 ``x`` and ``T <= 24``; else None.

        While :attr:`counting`, the same pass also computes the spikes and keeps them
        (:func:`fused_code_value_count`, :meth:`count`)."""
        args = self.fused_code(x)
        if args is None:
            return None
        if not self.counting:
            return compiled.run("mt", fused_code_value, x, *args)
        value, spikes = compiled.run("mt_value_count", fused_code_value_count, x, *args, self.code)
        self.keep(x, spikes)
        return value

    def fused_count(self, x: Tensor) -> Tensor | None:
        """The spikes per element as one fused pass (:func:`fused_code_count`), or None."""
        args = self.fused_code(x)
        return (
            None
            if args is None
            else compiled.run("mt_count", fused_code_count, x, *args, self.code)
        )

    def _widen(self, x: Tensor) -> tuple[Tensor, Tensor]:
        wide = x.to(compute_dtype(x, self.T))
        return wide, wide.abs()

    def init_state(self, x: Tensor) -> BitSerialState:
        wide, magnitude = self._widen(x)
        tau = self.threshold(x, magnitude).expand(x.shape)
        q = code_units(magnitude, tau, self.bits, self.rounding == "nearest")
        units = q * 2.0 ** (self.T - self.bits)
        return BitSerialState(torch.sign(wide) * tau, units)

    def step(
        self, state: BitSerialState, t: int, fired: bool = True
    ) -> tuple[Tensor, Tensor | None, BitSerialState]:
        return bit_step(state, t, self.T, self.code, fired)

    def closed_form(self, x: Tensor, count: bool = False) -> tuple[Tensor, Tensor | None]:
        wide, magnitude = self._widen(x)
        tau = self.threshold(x, magnitude)
        nearest = self.rounding == "nearest"
        return bit_serial_closed_form(wide, magnitude, tau, self.bits, self.code, count, nearest)

    def extra_repr(self) -> str:
        repr_ = f"{super().extra_repr()}, bits={self.bits}, code={self.code.name}"
        return repr_ + (f", rounding={self.rounding}" if self.rounding != "floor" else "")
