"""The images of ``las_shapes_vqa``: seeded coloured-shape pictures written once as local PNGs.

A code-path task, not a benchmark: the items are :func:`las.vqa.synthetic_items` (one shape in
one colour per image, a question on its shape, colour or size, the answer following from the
drawing), rendered to 8-bit RGB and stored under ``$LAS_CACHE/las_shapes_vqa/seed<seed>/`` so
that lm-eval reads them from files like any image dataset. The same seed gives byte-identical
files; existing files are checked against the rendering, rewritten when they differ or are damaged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, DatasetDict, Image
from PIL import Image as PILImage

from las.models import default_cache
from las.vqa import synthetic_items
from las.vqa.synthetic import BACKGROUND

#: Seeds of the task's items; on-the-fly VLM calibration uses seeds from 0 up (far below).
SEED = 10_000


def to_rgb(image: torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` normalised pixels (background ``BACKGROUND``, colours up to 1) ->
    ``[H, W, 3]`` uint8, ``BACKGROUND`` to 0 and 1 to 255."""
    scaled = (image - BACKGROUND) / (1 - BACKGROUND) * 255
    return scaled.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def _holds(path: Path, rgb: np.ndarray) -> bool:
    """Whether ``path`` is a readable image with exactly the pixels ``rgb``."""
    try:
        return np.array_equal(np.asarray(PILImage.open(path)), rgb)
    except (FileNotFoundError, OSError):  # missing, empty or damaged
        return False


def write_images(folder: Path, images: torch.Tensor) -> list[str]:
    """Each image as ``folder/<i>.png`` (written unless an identical file is there); the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path, rgb = folder / f"{i:04d}.png", to_rgb(image)
        if not _holds(path, rgb):
            PILImage.fromarray(rgb).save(path)
        paths.append(str(path))
    return paths


def shapes_dataset(n: int = 24, size: int = 32, seed: int = SEED, **_: Any) -> DatasetDict:
    """``n`` items (``image`` from its PNG file, ``question``, ``answer``) as the ``test`` split.

    Extra keyword arguments (lm-eval passes the task's metadata) are ignored.
    """
    items = synthetic_items(n, size, seed)
    paths = write_images(default_cache() / "las_shapes_vqa" / f"seed{seed}", items.images)
    rows = {"image": paths, "question": items.questions, "answer": items.answers}
    return DatasetDict({"test": Dataset.from_dict(rows).cast_column("image", Image())})
