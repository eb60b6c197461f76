"""``las-eval``: lm-eval's own command line with the ``las`` model types registered.

lm-eval discovers models only from its own package, so ``lm_eval --model las`` cannot see a model
registered by another package. ``las-eval`` registers it (and ``las-multimodal``, the VLM one,
:mod:`las.evaluation.vlm_model`), adds ``--include_path`` of the embedded
tasks (``las/tasks``) unless one is given, and hands over to lm-eval's CLI unchanged::

    las-eval run --model las --model_args pretrained=embedded:smollm2-135m,T=16 \\
        --tasks las_mmlu_embedded --limit 20
    las-eval run --model las-multimodal --model_args pretrained=tiny:llava,T=16 \\
        --tasks las_shapes_vqa --limit 4
"""

from __future__ import annotations

import sys

from lm_eval.__main__ import cli_evaluate

import las.evaluation.lm_eval_model  # registers the "las" model
import las.evaluation.vlm_model  # noqa: F401  (registers the "las-multimodal" model)
from las.tasks import TASKS_DIR


def check_limit(args: list[str]) -> None:
    """Refuse a ``--limit`` that is not a positive number, before any model is loaded.

    lm-eval reads ``--limit`` as an item count (> 1) or a fraction of items (in (0, 1]); zero or
    a negative value would only fail after the model was loaded and converted.
    """
    for i, arg in enumerate(args):
        value = arg.split("=", 1)[1] if arg.startswith("--limit=") else None
        if arg == "--limit" and i + 1 < len(args):
            value = args[i + 1]
        if value is None:
            continue
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not number > 0:
            raise SystemExit(
                f"las-eval: --limit {value!r} must be a positive item count or a fraction in "
                "(0, 1]; omit it to evaluate every item"
            )


def main(argv: list[str] | None = None) -> None:
    """Run lm-eval's CLI on ``argv`` (default ``sys.argv[1:]``) with ``las`` registered."""
    args = list(sys.argv[1:] if argv is None else argv)
    check_limit(args)
    if "--include_path" not in args and any(a in args for a in ("--tasks", "-t")):
        args += ["--include_path", str(TASKS_DIR)]
    sys.argv = ["las-eval", *args]
    cli_evaluate()


if __name__ == "__main__":
    main()
