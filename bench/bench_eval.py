"""``las-eval`` throughput: the converted model vs lm-eval's ``hf`` model on one task (issue #13).

    python bench/bench_eval.py --threads 1                       # las_sentiment, 60 items
    python bench/bench_eval.py --task las_wiki_ppl --limit 8     # a perplexity task
    python bench/bench_eval.py --quick                           # tiny random LLaMA, seconds

The same lm-eval evaluation (``lm_eval.simple_evaluate``, the embedded tasks of ``las/tasks``,
``--limit`` items, one batch size) runs on lm-eval's ``hf`` model (``HFLM`` wrapping the
original) and on the ``las`` model type of ``las-eval`` (``LASLM``: the same weights converted,
``T=16``, fast mode, calibrated on the fly on ``--calib-sequences`` sequences of the embedded
prose), interleaved over ``--rounds`` rounds after one warm-up evaluation each on the same
items. The fused closed forms compile as a user's run does, once the process has run ``2**30``
elements through them (:mod:`las.neurons.compiled`), which a short task may first reach inside a
timed round: each round's seconds are printed, and the median of three or more rounds is the
steady state (README, Performance). Tokens are counted at the model's forward (every row of
every batch the harness sends, padding included: the same batches for both), so tokens/s is the
harness's throughput, requests and all; the ratio is the number that counts. A third row,
``las-none``, is the ``las`` model type on the original weights (``method=none``): ``las``
scores only the continuation positions (the output head and log-softmax run where a
continuation is scored, :meth:`LASLM._loglikelihood_tokens`), which ``hf`` does not, so
``las / las-none`` is the conversion's own cost and ``las / hf`` what a user sees. Prints
Markdown; writes ``bench/out/eval.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent / "out"


class TokenCounter:
    """Counts the input tokens every forward of ``model`` receives (a forward pre-hook)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.tokens = 0
        model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, _module, args, kwargs) -> None:
        ids = args[0] if args else kwargs["input_ids"]
        self.tokens += ids.numel()


def evaluate(lm, counter: TokenCounter, task: str, limit: int, manager) -> dict:
    """One ``simple_evaluate`` of ``task``: seconds, tokens, the task's metrics."""
    from lm_eval import simple_evaluate

    before = counter.tokens
    start = time.perf_counter()
    out = simple_evaluate(
        model=lm, tasks=[task], limit=limit, task_manager=manager, bootstrap_iters=0
    )
    seconds = time.perf_counter() - start
    metrics = {k: v for k, v in out["results"][task].items() if isinstance(v, int | float)}
    return {"seconds": seconds, "tokens": counter.tokens - before, "metrics": metrics}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="las_sentiment")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calib-sequences", type=int, default=4)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--quick", action="store_true", help="tiny random LLaMA")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from las.evaluation.lm_eval_model import LASLM, _load_named
    from las.tasks import TASKS_DIR

    pretrained = "tiny:llama" if args.quick else "embedded:smollm2-135m"
    loaded = _load_named(pretrained)
    hf = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=args.batch_size)
    start = time.perf_counter()
    las = LASLM(
        pretrained=pretrained,
        method="las",
        T=16,
        calibration_sequences=args.calib_sequences,
        batch_size=args.batch_size,
    )
    convert_s = time.perf_counter() - start
    manager = TaskManager(include_path=str(TASKS_DIR))
    original = LASLM(pretrained=pretrained, method="none", batch_size=args.batch_size)
    models = {"hf": hf, "las-none": original, "las": las}
    counters = {name: TokenCounter(lm.model) for name, lm in models.items()}
    with torch.inference_mode():
        warm = {
            n: evaluate(lm, counters[n], args.task, args.limit, manager) for n, lm in models.items()
        }
        runs: dict[str, list[dict]] = {name: [] for name in models}
        for _ in range(args.rounds):
            for name, lm in models.items():
                runs[name].append(evaluate(lm, counters[name], args.task, args.limit, manager))
    rows = {}
    for name, done in runs.items():
        seconds = statistics.median(r["seconds"] for r in done)
        tokens = done[0]["tokens"]
        rows[name] = {
            "seconds": seconds,
            "rounds_s": [r["seconds"] for r in done],
            "tokens": tokens,
            "tokens_per_s": tokens / seconds,
            "metrics": done[0]["metrics"],
            "warm_up_s": warm[name]["seconds"],
        }
    result = {
        "model": pretrained,
        "task": args.task,
        "limit": args.limit,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "calibrate_and_convert_s": convert_s,
        "rows": rows,
        "ratio": rows["las"]["seconds"] / rows["hf"]["seconds"],
        "conversion_ratio": rows["las"]["seconds"] / rows["las-none"]["seconds"],
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "eval.json").write_text(json.dumps(result, indent=2))
    print(render(result))


def render(result: dict) -> str:
    """The Markdown table of a :func:`main` result."""
    lines = [
        f"{result['model']}, task {result['task']}, {result['limit']} items, batch "
        f"{result['batch_size']}, torch {torch.__version__}, {result['threads']} threads",
        "",
        "| model type | tokens | seconds (median) | rounds (s) | tokens/s | metrics |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in result["rows"].items():
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in r["metrics"].items())
        rounds = ", ".join(f"{t:.1f}" for t in r["rounds_s"])
        lines.append(
            f"| {name} | {r['tokens']} | {r['seconds']:.1f} | {rounds} | "
            f"{r['tokens_per_s']:.0f} | {metrics} |"
        )
    ok = "ok" if result["ratio"] <= 1.5 else "above"
    lines += [
        "",
        f"las / hf time: {result['ratio']:.2f}x (goal <= 1.5x: {ok}); las / las-none (the same "
        f"scorer, original weights): {result['conversion_ratio']:.2f}x",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
