"""The local image files of ``las_shapes_vqa``: seeded, written once, read back as drawn."""

from __future__ import annotations

import numpy as np

from las.tasks.shapes_data import shapes_dataset, to_rgb
from las.vqa import synthetic_items


def test_images_are_local_files_of_the_seeded_drawing(tmp_path, monkeypatch):
    monkeypatch.setenv("LAS_CACHE", str(tmp_path))
    test = shapes_dataset(n=6, size=16, seed=3)["test"]
    items = synthetic_items(6, 16, 3)
    assert test["question"] == items.questions and test["answer"] == items.answers
    files = sorted((tmp_path / "las_shapes_vqa" / "seed3").glob("*.png"))
    assert len(files) == 6
    for image, drawn in zip(test["image"], items.images, strict=True):
        assert np.array_equal(np.asarray(image), to_rgb(drawn))
    stamps = [f.stat().st_mtime_ns for f in files]
    files[0].write_bytes(b"")  # a damaged file is rewritten, intact ones are kept
    again = shapes_dataset(n=6, size=16, seed=3)["test"]
    assert np.array_equal(np.asarray(again["image"][0]), to_rgb(items.images[0]))
    assert [f.stat().st_mtime_ns for f in files[1:]] == stamps[1:]
