"""``las-eval``: lm-eval's own command line with the ``las`` model type registered.

lm-eval discovers models only from its own package, so ``lm_eval --model las`` cannot see a model
registered by another package. ``las-eval`` registers it, adds ``--include_path`` of the embedded
tasks (``las/tasks``) unless one is given, and hands over to lm-eval's CLI unchanged::

    las-eval run --model las --model_args pretrained=embedded:smollm2-135m,T=16 \\
        --tasks las_mmlu_embedded --limit 20
"""

from __future__ import annotations

import sys

from lm_eval.__main__ import cli_evaluate

import las.evaluation.lm_eval_model  # noqa: F401  (registers the "las" model)
from las.tasks import TASKS_DIR


def main(argv: list[str] | None = None) -> None:
    """Run lm-eval's CLI on ``argv`` (default ``sys.argv[1:]``) with ``las`` registered."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--include_path" not in args and any(a in args for a in ("--tasks", "-t")):
        args += ["--include_path", str(TASKS_DIR)]
    sys.argv = ["las-eval", *args]
    cli_evaluate()


if __name__ == "__main__":
    main()
