"""Stages that never load a model do not import transformers or lm-eval (each job is a fresh
process: those imports were most of a ``convert`` job's wall time); ``las`` exports lazily."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import las

ROOT = Path(__file__).resolve().parent.parent
#: The stage modules that read artifacts only (``convert`` loads a model for an allocation only,
#: inside the stage's run).
LIGHT = ("las.convert", "las.calibrate", "las.fit_hg", "las.tables", "las.figures", "las.download")
HEAVY = ("transformers", "lm_eval")


def _imported(statement: str) -> list[str]:
    """The top-level package names in ``sys.modules`` of a fresh interpreter after ``statement``."""
    report = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    code = f"{statement}\n{report}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("stage", LIGHT)
def test_light_stages_do_not_import_model_code(stage):
    loaded = _imported(f"import {stage}")
    assert stage.split(".")[0] in loaded
    assert not set(HEAVY) & set(loaded), f"{stage} imports {set(HEAVY) & set(loaded)}"


def test_model_stages_still_import_transformers():
    """The check above can fail: a stage that loads a model imports transformers."""
    assert "transformers" in _imported("import las.collect")


def test_import_las_loads_no_torch():
    assert "torch" not in _imported("import las")


def test_public_names_resolve_lazily():
    from las import Calibration, ConversionConfig, Mode, convert_model, load_converted
    from las.conversion import convert_model as defined
    from las.converted import load_converted as loader

    assert convert_model is defined and las.load_converted is loader is load_converted
    assert {Calibration, ConversionConfig, Mode}
    assert set(las.__all__) <= set(dir(las))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        las.nothing  # noqa: B018
