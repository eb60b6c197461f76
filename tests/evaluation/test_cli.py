"""``las-eval``: lm-eval's CLI with the ``las`` model registered and the embedded tasks found."""

from __future__ import annotations

import json

from las.evaluation.cli import main


def test_las_eval_runs_an_embedded_task(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(
        [
            "run",
            "--model",
            "las",
            "--model_args",
            "pretrained=tiny:llama,method=none",
            "--tasks",
            "las_mmlu_embedded",
            "--limit",
            "2",
            "--output_path",
            str(tmp_path / "out"),
        ]
    )
    (result,) = (tmp_path / "out").rglob("results_*.json")
    record = json.loads(result.read_text())
    assert record["config"]["model"] == "las"
    assert 0.0 <= record["results"]["las_mmlu_embedded"]["acc,none"] <= 1.0
    assert record["n-samples"]["las_mmlu_embedded"]["effective"] == 2


def test_a_limit_of_zero_is_refused_before_any_model_loads(monkeypatch):
    """Failure 4: `--limit 0` used to calibrate first and fail after."""
    import pytest

    import las.evaluation.cli as cli

    monkeypatch.setattr(cli, "cli_evaluate", lambda: pytest.fail("lm-eval was started"))
    for limit in (["--limit", "0"], ["--limit=-3"], ["--limit", "many"]):
        with pytest.raises(SystemExit, match="must be a positive item count"):
            main(["run", "--model", "las", "--tasks", "las_prose_ppl", *limit])
