"""Bit-serial codes (METHOD.md M1, M11): NAF masks and the NAF neuron's steps against the textbook.

Exhaustive over every 16-bit code ``q``; the reference is the textbook right-to-left recurrence
(``d = 2 - (n mod 4)`` for odd ``n``), written with Python integers, independent of the masks.
"""

from __future__ import annotations

import pytest
import torch

from las.neurons import MTNeuron
from las.neurons.codes import BINARY, CODES, NAF, code_named

T = 16
Q = torch.arange(2**T, dtype=torch.int64)


def textbook_naf(n: int) -> list[int]:
    """NAF digits of ``n >= 0``, least significant first (Reitwiesner's recurrence)."""
    digits = []
    while n:
        digit = 2 - n % 4 if n % 2 else 0
        digits.append(digit)
        n = (n - digit) // 2
    return digits


def digit_table(width: int) -> torch.Tensor:
    """``[2**T, width]`` textbook NAF digits of every T-bit code, least significant first."""
    table = torch.zeros((2**T, width), dtype=torch.int64)
    for q in range(2**T):
        digits = textbook_naf(q)
        table[q, : len(digits)] = torch.tensor(digits, dtype=torch.int64)
    return table


@pytest.fixture(scope="module")
def reference() -> torch.Tensor:
    return digit_table(T + 1)


def mask_digits(q: torch.Tensor, width: int) -> torch.Tensor:
    """``[len(q), width]`` signed digits of :meth:`NAF.masks`, least significant first."""
    positive, negative = NAF.masks(q)
    bits = torch.arange(width)
    return ((positive[:, None] >> bits) & 1) - ((negative[:, None] >> bits) & 1)


def test_masks_are_the_textbook_naf_of_every_16_bit_code(reference):
    digits = mask_digits(Q, T + 2)
    assert torch.equal(digits[:, : T + 1], reference) and not digits[:, T + 1].any()
    assert torch.equal((digits * 2 ** torch.arange(T + 2)).sum(1), Q)
    assert torch.equal(NAF.count(Q), reference.ne(0).sum(1))


def test_no_two_adjacent_digits_are_non_zero_and_never_more_than_binary(reference):
    positive, negative = NAF.masks(Q)
    nonzero = positive | negative
    assert not bool((positive & negative).any()) and not bool((nonzero & (nonzero >> 1)).any())
    assert bool((NAF.count(Q) <= BINARY.count(Q)).all())
    # about T/3 non-zero digits for uniform codes (M11; T/3 + 4/9 asymptotically), against T/2
    assert NAF.count(Q).double().mean().item() == pytest.approx(T / 3 + 4 / 9, abs=1e-4)
    assert BINARY.count(Q).double().mean().item() == T / 2


def test_codes_above_a_third_of_the_range_carry_into_digit_T(reference):
    """The extra digit: exactly the codes ``q > floor(2**(T+1)/3)`` (``1010...``) need digit T,
    always +1; the neuron fires it at step 0 with weight ``tau``."""
    carries = reference[:, T] != 0
    assert torch.equal(carries, Q > 2 ** (T + 1) // 3) and bool((reference[carries, T] == 1).all())
    assert int(carries.sum()) == 21845  # a third of the codes
    assert torch.equal((NAF.masks(Q)[0] >> T) & 1, carries.long())


@pytest.mark.parametrize("mode", ["fast", "spike"])
def test_the_neurons_steps_fire_the_textbook_digits_msb_first(reference, mode):
    """Step ``t`` (weight ``tau 2**-t``, ``t = 0..T``) fires ``sign(x) d_(T-t)`` (M11)."""
    x = torch.cat([Q, -Q]).double() * 2.0**-T  # tau = 1: the codes themselves, both signs
    neuron = MTNeuron(1.0, T, code="naf", mode=mode)
    train = neuron.spikes(x, dtype=torch.float64)
    assert train.shape == (T + 1, 2 * 2**T)
    digits = train * 2.0 ** torch.arange(T + 1, dtype=torch.float64)[:, None]
    expected = reference.flip(1).t().double()  # row t holds digit T - t
    assert torch.equal(digits, torch.cat([expected, -expected], 1))
    assert torch.equal(neuron(x), x) and torch.equal(neuron(x), MTNeuron(1.0, T)(x))
    assert torch.equal(neuron.count(x), torch.cat([reference.ne(0).sum(1)] * 2))


def test_binary_digits_by_floor_are_the_thresholds_digits_at_every_reachable_membrane():
    """:meth:`BinaryCode.digit` (a floor, no comparison) against the generic rule (``sign(v)``
    where ``|v| >=`` the threshold) on every membrane a binary train reaches: step ``t`` sees
    ``q mod 2**(T-t+1)`` for every 16-bit code, and fractional HG units below the same bound."""
    fractions = torch.rand(2**T, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for t in range(1, T + 1):
        for v in (Q.double() % 2 ** (T - t + 1), fractions * 2 ** (T - t + 1)):
            generic = torch.sign(v) * (v.abs() >= BINARY.threshold(T, t))
            assert torch.equal(BINARY.digit(v, T, t), generic)


@pytest.mark.parametrize("code", ["binary", "naf"])
def test_outputs_without_the_fired_masks_are_the_same_train(code):
    neuron = MTNeuron(1.0, T, code=code)
    x = torch.cat([Q, -Q]).float() * 2.0**-T
    with_masks = list(neuron.simulate(x))
    without = list(neuron.simulate(x, fired=False))
    assert all(torch.equal(a, b) for (a, _), (b, _) in zip(with_masks, without, strict=True))
    assert all(mask is None for _, mask in without)
    masks = torch.stack([mask for _, mask in with_masks])
    assert torch.equal(masks.sum(0), neuron.count(x))


def test_codes_are_named_and_unknown_names_refused():
    assert code_named("naf") is NAF and code_named(BINARY) is BINARY
    assert set(CODES) == {"binary", "naf"}
    assert (BINARY.steps(T), NAF.steps(T)) == (T, T + 1)
    with pytest.raises(ValueError, match="unknown code 'csd'; known: binary, naf"):
        MTNeuron(1.0, code="csd")
