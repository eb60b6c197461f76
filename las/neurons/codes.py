"""Bit-serial codes: how an MT neuron spells its T-bit code ``q`` as a spike train (M1, M11).

Both codes carry the same ``q`` (so the same value, bit for bit); they differ in the digits:

* ``binary`` (M1): ``q = sum_t b_t 2**(T-t)``, bits ``b_t in {0, 1}``, steps ``t = 1..T``;
  ``popcount(q)`` spikes.
* ``naf`` (M11): the non-adjacent form, ``q = sum_i d_i 2**i`` with ``d_i in {-1, 0, +1}`` and
  no two adjacent digits non-zero: the fewest non-zero digits of any signed-binary form. A T-bit
  ``q`` above ``floor(2**(T+1)/3)`` (a third of the code range) needs digit ``i = T``; the train
  therefore has one extra step ``t = 0`` of weight ``tau`` before step 1 (``T + 1`` steps in
  all), never a capped code, so the value is M1's for every ``q``.

A step of either code is one comparison of the membrane (in units of ``tau / 2**T``, starting at
``q``) with a threshold :meth:`BitSerialCode.threshold`: fire the digit ``sign(v)`` where
``|v| >= threshold`` (:meth:`BitSerialCode.digit`), then subtract the digit's weight
(:func:`las.neurons.mt.bit_step`). The
closed-form count is the popcount of the code's digit masks (:meth:`BitSerialCode.masks`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

import torch
from torch import Tensor

from las.neurons.base import popcount

CodeName = Literal["binary", "naf"]


class BitSerialCode(ABC):
    """A spelling of the T-bit code ``q`` as an MSB-first train of signed digits.

    Attributes:
        name: the ``ConversionConfig.code`` value.
        first_step: the first step ``t`` of the train (weight ``tau * 2**-t``): 1, or 0 for a
            code with a digit of weight ``tau``.
    """

    name: CodeName
    first_step: int

    def steps(self, T: int) -> int:
        """Length of the train of a T-bit code: ``T + 1 - first_step``."""
        return T + 1 - self.first_step

    @abstractmethod
    def threshold(self, T: int, t: int) -> float:
        """Membrane threshold of step ``t`` in units of ``tau / 2**T``: fire where ``|v| >=`` it."""

    def digit(self, v: Tensor, T: int, t: int) -> Tensor:
        """The digit step ``t`` fires for membranes ``v`` (units): ``sign(v)`` where ``|v| >=``
        :meth:`threshold`, else 0, in ``v``'s dtype."""
        return torch.sign(v) * (v.abs() >= self.threshold(T, t))

    @abstractmethod
    def masks(self, q: Tensor) -> tuple[Tensor, ...]:
        """Bit masks of the non-zero digits of int64 codes ``q >= 0`` (one mask per digit sign);
        bit ``i`` of a mask is digit ``i``, of weight ``2**i`` units."""

    def count(self, q: Tensor) -> Tensor:
        """Spikes per element (int64): the number of non-zero digits of each code ``q``."""
        first, *rest = (popcount(mask) for mask in self.masks(q))
        return sum(rest, first)

    def __repr__(self) -> str:
        return self.name


class BinaryCode(BitSerialCode):
    """M1: step ``t`` fires where ``v >= 2**(T-t)`` units (``tau * 2**-t``); the masks: ``(q,)``."""

    name: CodeName = "binary"
    first_step = 1

    def threshold(self, T: int, t: int) -> float:
        return 2.0 ** (T - t)

    def digit(self, v: Tensor, T: int, t: int) -> Tensor:
        """``floor(v 2**(t-T))``: a binary membrane starts at ``0 <= q < 2**T`` and is below
        ``2**(T-t+1)`` at step ``t``, so the (exact, power-of-two) scaled membrane lies in
        ``[0, 2)`` and its floor is the bit, with no comparison or boolean pass. Also exact for
        fractional membranes (HG units, :mod:`las.neurons.hg`)."""
        return torch.floor_(v * 2.0 ** (t - T))

    def masks(self, q: Tensor) -> tuple[Tensor, ...]:
        return (q,)


class SignedDigitCode(BitSerialCode):
    """M11, the non-adjacent form (NAF), most significant digit first, from step ``t = 0``.

    Step ``t`` holds digit ``k = T - t``. A NAF without digits at ``k`` and above spans at most
    ``floor(2**(k+1)/3)`` in magnitude (``1010...``), so the digit at ``k`` is ``sign(v)`` where
    ``|v| > floor(2**(k+1)/3)`` (about two thirds of the weight) and 0 elsewhere; after it the
    residual again has a NAF below ``k``, so the train is ``q``'s (unique) NAF and ends at 0.
    The integer units make the comparison exact. Masks (``c = 3q xor q``): positive digits
    ``(3q and c) >> 1``, negative digits ``(q and c) >> 1``; ``3q < 2**31`` for ``T <= MAX_T``.
    """

    name: CodeName = "naf"
    first_step = 0

    def threshold(self, T: int, t: int) -> float:
        return float(2 ** (T - t + 1) // 3 + 1)

    def masks(self, q: Tensor) -> tuple[Tensor, ...]:
        triple = 3 * q
        carries = triple ^ q
        return (triple & carries) >> 1, (q & carries) >> 1


BINARY, NAF = BinaryCode(), SignedDigitCode()
#: The codes by ``ConversionConfig.code`` name.
CODES: dict[str, BitSerialCode] = {code.name: code for code in (BINARY, NAF)}


def code_named(code: CodeName | BitSerialCode) -> BitSerialCode:
    """The code called ``code`` (or ``code`` itself); ``ValueError`` naming the known codes."""
    if isinstance(code, BitSerialCode):
        return code
    if code not in CODES:
        raise ValueError(f"unknown code {code!r}; known: {', '.join(CODES)}")
    return CODES[code]
