"""Synthetic image-question items built in code: one coloured geometric shape per image.

Every image shows one of :data:`SHAPES` in one of :data:`COLOURS`, large or small, at a random
place on a dark background; the question asks for its shape, its colour or whether it is big, and
the reference answer follows from how the image was drawn. They need no dataset and no download.
On random-weight models they prove code paths; they are far too easy to measure a real VLM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

SHAPES = ("disk", "square", "cross", "ring", "stripes", "checkers")
COLOURS = {
    "red": (1.0, -0.6, -0.6),
    "green": (-0.6, 1.0, -0.6),
    "blue": (-0.6, -0.6, 1.0),
    "yellow": (1.0, 1.0, -0.6),
}
QUESTIONS = ("What shape is it?", "What colour is it?", "Is it big?")
BACKGROUND = -0.8  # normalised pixel value of the background (values span about [-1, 1])


@dataclass(frozen=True)
class SyntheticItems:
    """``images`` ``[N, 3, size, size]`` (already normalised), one question and answer per image."""

    images: Tensor
    questions: list[str]
    answers: list[str]


def _shape_masks(dx: Tensor, dy: Tensor) -> Tensor:
    """``[len(SHAPES), N, S, S]`` masks from coordinates relative to each shape (unit radius)."""
    r = torch.hypot(dx, dy)
    box = torch.maximum(dx.abs(), dy.abs()) <= 1
    cells = (2 * dx).floor() + (2 * dy).floor()
    return torch.stack(
        [
            r <= 1,
            box,
            box & ((dx.abs() < 0.3) | (dy.abs() < 0.3)),
            (r <= 1) & (r >= 0.6),
            box & ((2 * dy).floor().remainder(2) == 0),
            box & (cells.remainder(2) == 0),
        ]
    )


def synthetic_items(n: int, size: int, seed: int = 0) -> SyntheticItems:
    """``n`` seeded items of ``size x size`` pixels (shape, colour, size, place, question)."""
    gen = torch.Generator().manual_seed(seed)
    shape = torch.randint(len(SHAPES), (n,), generator=gen)
    colour = torch.randint(len(COLOURS), (n,), generator=gen)
    big = torch.rand(n, generator=gen) < 0.5
    question = torch.randint(len(QUESTIONS), (n,), generator=gen)
    radius = torch.where(big, 0.7, 0.35)
    centre = (torch.rand(n, 2, generator=gen) * 2 - 1) * (1 - radius)[:, None]
    axis = torch.linspace(-1, 1, size)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    dy = (ys - centre[:, :1, None]) / radius[:, None, None]
    dx = (xs - centre[:, 1:, None]) / radius[:, None, None]
    mask = _shape_masks(dx, dy)[shape, torch.arange(n)]
    rgb = torch.tensor(list(COLOURS.values()))[colour]
    noise = 0.05 * torch.randn(n, 3, size, size, generator=gen)
    images = torch.where(mask[:, None], rgb[:, :, None, None], BACKGROUND) + noise
    names = list(COLOURS)
    drawn = zip(shape.tolist(), colour.tolist(), big.tolist(), question.tolist(), strict=True)
    answers = [(SHAPES[s], names[c], "yes" if b else "no")[q] for s, c, b, q in drawn]
    return SyntheticItems(images, [QUESTIONS[q] for q in question.tolist()], answers)
