"""The spike-driven row maximum of MSB-first bit-serial codes (METHOD.md M13).

Every element of a row starts as a candidate. Step ``t`` of an MT train (M1) carries the same
weight ``tau 2**-t`` for every element of the row, so the codes compare bit by bit, most
significant first: in a row of positive codes, once some candidate fires at step ``t`` the
candidates that stayed silent are smaller and drop out. Positive codes rank above the others;
among zero and negative codes the smallest magnitude is the largest value, so there the
candidates that *fire* drop out once some candidate stays silent. After ``T`` steps the
survivors all hold the row's maximum code. The result is exact (the maximum of the code values,
not of the float inputs); masked elements are never candidates.

Cost (M8 ledger): at every step at which some candidate of the row fires, each candidate is
compared once (it fired or not); a step at which no candidate fires is no event and costs
nothing. :func:`eliminate` runs the rule on any sequence of fired masks: those of a simulated
train (spike mode) or the bits of the codes (the closed form, for counting).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


def eliminate(fired: Iterable[Tensor], positive: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """(survivor mask, comparisons per row) of M13 over the rows (last dim) of ``positive``.

    Args:
        fired: boolean masks ``[..., n]``, one per step, most significant step first.
        positive: elements whose code is positive (``> 0``).
        valid: elements that take part (the keep mask); the others are never candidates.

    Rows without a valid element have no survivor and cost nothing.
    """
    upper = (positive & valid).any(-1, keepdim=True)
    candidates = valid & (positive == upper)
    comparisons = torch.zeros(candidates.shape[:-1], dtype=torch.int64, device=valid.device)
    for step in fired:
        firing = candidates & step
        event = firing.any(-1)
        comparisons += torch.where(event, candidates.sum(-1), 0)
        preferred = torch.where(upper, firing, candidates & ~step)
        candidates = torch.where(preferred.any(-1, keepdim=True), preferred, candidates)
    return candidates, comparisons


def code_steps(q: Tensor, T: int) -> list[Tensor]:
    """The fired masks of T-bit codes ``q`` (int64), step 1 (the MSB) first (M1)."""
    return [((q >> (T - t)) & 1).bool() for t in range(1, T + 1)]


def survivor_value(values: Tensor, survivors: Tensor) -> Tensor:
    """``[..., 1]``: the value of the first survivor of each row; 0 where a row has none."""
    first = survivors.to(torch.int8).argmax(-1, keepdim=True)
    picked = values.gather(-1, first)
    return torch.where(survivors.any(-1, keepdim=True), picked, torch.zeros_like(picked))
