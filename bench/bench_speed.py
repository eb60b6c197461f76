"""Speed of the converted model vs the original at several lengths, in one run (issue #13).

    python bench/bench_speed.py                      # SmolLM2, MiniLM, Qwen2.5-Coder-0.5B
    python bench/bench_speed.py --quick              # tiny random LLaMA and BERT, seconds
    python bench/bench_speed.py --profile 512 2048   # + torch.profiler top ops (SmolLM2, fast)

Per model and batch shape: the original forward and the converted forward in ``fast`` mode on the
same token batch, timed interleaved (round-robin medians after a warm-up, ``measure.time_cases``),
so background load hits both alike; the ratio is the number that counts, never an absolute time.
Spike mode (T=16) runs at a short length against the original on the same batch; its peak extra
memory is measured in a fresh subprocess with the kernel's peak-RSS counter reset right before one
forward (after a warm-up; glibc told to return freed blocks at once, ``LIVE_MEMORY_ENV``),
minus the original's, in units of one spike train of the largest block activation
(``T * B * n * max(intermediate, heads * n) * 4`` bytes) and of the logits (``T * B * n * vocab
* 4``: the converted lm_head's output, the widest activation of the model). Calibration time
is reported per part (collect, thresholds, HG fit) and per calibration token (not when
``BENCH_CALIBRATION_CACHE`` names a folder holding a calibration saved by an earlier run, which
is then reused). Prints
Markdown; writes ``bench/out/speed.json`` (and ``bench/out/profile_<model>_<n>.txt`` with
``--profile``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from pathlib import Path

import torch
from measure import Case, peak_extra_rss, run_json_child, time_cases

OUT = Path(__file__).resolve().parent / "out"
ASSETS = Path.home() / ".cache" / "las-test-assets"
T = 16
#: (model, [(batch, tokens), ...]) timed in fast mode; goal 1.5x everywhere.
FAST_CASES = {
    "smollm2": [(1, 128), (1, 512), (1, 2048)],
    "minilm": [(8, 128)],
    "qwen": [(1, 128), (1, 512), (1, 2048)],
}
SPIKE_CASE = ("smollm2", (1, 64))
QUICK_CASES = {"tiny": [(1, 64), (1, 256)]}


def load_model(name: str):
    """(model, tokenizer) of a bench model, offline."""
    from las.arch.tiny import byte_tokenizer, tiny_model
    from las.models import ModelSpec, load

    if name == "tiny":
        return tiny_model("llama"), byte_tokenizer()
    if name == "tiny_bert":
        return tiny_model("bert"), byte_tokenizer()
    spec = {
        "smollm2": ModelSpec(name="smollm2_135m", source="embedded", id="smollm2-135m"),
        "minilm": ModelSpec(name="minilm_l6", source="embedded", id="minilm-l6-v2", task="encoder"),
        "qwen": ModelSpec(name="qwen25_coder_05b", source="embedded", id="qwen2.5-coder-0.5b"),
    }[name]
    loaded = load(spec, ASSETS if ASSETS.exists() else None)
    return loaded.model, loaded.tokenizer


def build(name: str, calib_sequences: int | None = None):
    """(original, converted in fast mode, calibration timings or None).

    Calibration runs its three parts one by one (``las.calibration.calibrate_model`` is their
    composition): collect (statistics, per token), thresholds and the HG fit (per site, not per
    token); ``calib_sequences`` replaces the data config's number of calibration sequences.
    """
    from las import ConversionConfig, convert_model, data
    from las.calibration import calibrate_thresholds, collect_statistics
    from las.calibration.ranges import hg_ranges
    from las.calibration.rules import RuleConfig
    from las.conversion.factory import Calibration
    from las.hg_bank import fit_bank

    model, tokenizer = load_model(name)
    model.eval()
    cfg = data.data_config("embedded_prose", calib_sequences)
    batches = list(data.calibration_batches(tokenizer, cfg))
    tokens = sum(
        int(b["attention_mask"].sum()) if "attention_mask" in b else b["input_ids"].numel()
        for b in batches
    )
    cache = os.environ.get("BENCH_CALIBRATION_CACHE")
    cached = Path(cache) / f"{name}_{calib_sequences or 'default'}.pt" if cache else None
    if cached is not None and cached.exists():
        calibration = torch.load(cached, weights_only=False)
        return model, convert_model(model, calibration, ConversionConfig(T=T)), None
    seconds = {}
    start = time.perf_counter()
    observers = collect_statistics(model, batches)
    seconds["collect"] = time.perf_counter() - start
    choices = calibrate_thresholds(observers, RuleConfig(), T)
    seconds["thresholds"] = time.perf_counter() - start - seconds["collect"]
    bank, _ = fit_bank(hg_ranges(observers.stats, observers.roles), K=16)
    seconds["fit_hg"] = time.perf_counter() - start - seconds["collect"] - seconds["thresholds"]
    thresholds = {site: (c.theta_nor, c.theta_out) for site, c in choices.items()}
    calibration = Calibration(thresholds, bank)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.save(calibration, cached)
    total = sum(seconds.values())
    timing = {
        "tokens": tokens,
        "hg_functions": len(bank),
        **{f"{k}_s": v for k, v in seconds.items()},
        "seconds": total,
        "ms_per_token": 1e3 * total / tokens,
        "collect_ms_per_token": 1e3 * seconds["collect"] / tokens,
    }
    return model, convert_model(model, calibration, ConversionConfig(T=T)), timing


def token_batch(model, batch: int, length: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(batch * 100003 + length)
    vocab = min(int(model.config.vocab_size), 30000)
    return torch.randint(5, vocab, (batch, length), generator=generator)


def activation_train_bytes(model, batch: int, length: int) -> int:
    """Bytes of one float32 T-step train of the largest activation of one block."""
    cfg = model.config
    widest = max(int(getattr(cfg, "intermediate_size", 0)), cfg.num_attention_heads * length)
    return T * batch * length * widest * 4


#: glibc hands every freed block of 64 KiB or more back to the kernel at once, so a memory child's
#: peak RSS follows the live tensors; by default the allocator keeps pages the warm-up freed and a
#: forward that fits in them reads as no extra memory at all.
LIVE_MEMORY_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def child(
    name: str,
    which: str,
    mode: str,
    part: str,
    batch: int,
    length: int,
    calib_sequences: int | None,
) -> None:
    """Subprocess body: one forward after a warm-up, peak-RSS counter reset right before it.

    ``part``: ``model`` (the whole forward, logits included) or ``decoder`` (the blocks and the
    final norm, without the lm_head: ``get_decoder()``).
    """
    from las.ops import set_mode

    ann, snn, _ = build(name, calib_sequences)
    set_mode(snn, mode)
    model = ann if which == "ann" else snn
    if part == "decoder":
        model = model.get_decoder()
    ids = token_batch(ann, batch, length)
    with torch.inference_mode():
        model(ids)
        gc.collect()
        report = peak_extra_rss(lambda: model(ids))
    print(json.dumps(report))


def profile(snn, ann, label: str, length: int, rows: int = 25) -> str:
    """torch.profiler tables (top ops by self CPU time) of one fast forward and one original.

    Each model runs once before (a warm-up: compiles) unless ``length > 1024`` and fusion is off.
    """
    try:
        from las.neurons import compiled

        fused = compiled.ENABLED
    except ImportError:  # a tree from before the fused closed forms
        fused = False

    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    ids = token_batch(ann, 1, length)
    text = []
    for which, model in (("converted (fast)", snn), ("original", ann)):
        with torch.inference_mode():
            if length <= 1024 or fused:
                model(ids)
            with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                model(ids)
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
        text.append(f"## {label} 1x{length}, {which}\n\n```\n{table}\n```\n")
    return "\n".join(text)


def repeats_for(tokens: int, base: int) -> int:
    """Fewer repeats for long sequences (at least 1)."""
    return max(1, base if tokens <= 512 else base // 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", type=int, nargs="*", default=[])
    parser.add_argument("--no-spike", action="store_true")
    parser.add_argument("--profile-only", action="store_true", help="no timings, --profile only")
    parser.add_argument("--models", nargs="*")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (see bench/README)")
    parser.add_argument("--max-tokens", type=int, help="skip shapes with more tokens per row")
    parser.add_argument(
        "--calib-sequences", type=int, help="calibration sequences (default: the data config's)"
    )
    parser.add_argument("--profile-models", nargs="*", default=["smollm2", "tiny"])
    parser.add_argument("--child", nargs=6)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        name, which, mode, part, batch, length = args.child
        child(name, which, mode, part, int(batch), int(length), args.calib_sequences)
        return
    from las.ops import set_mode

    cases = QUICK_CASES if args.quick else FAST_CASES
    if args.models:
        cases = {m: cases[m] for m in args.models}
    OUT.mkdir(exist_ok=True)
    rows, calib, spike = [], {}, None
    for name, shapes in cases.items():
        torch.manual_seed(0)
        ann, snn, timing = build(name, args.calib_sequences)
        if timing is not None:
            calib[name] = timing
        if args.max_tokens:
            shapes = [(b, n) for b, n in shapes if n <= args.max_tokens]
        for batch, length in [] if args.profile_only else shapes:
            ids = token_batch(ann, batch, length)
            with torch.inference_mode():
                stats, _ = time_cases(
                    {
                        "ann": Case(lambda m=ann, i=ids: m(i), repeats_for(length, args.repeats)),
                        "snn": Case(lambda m=snn, i=ids: m(i), repeats_for(length, args.repeats)),
                    }
                )
            ms = {k: 1e3 * v["median_s"] for k, v in stats.items()}
            rows.append(
                {
                    "model": name,
                    "batch": batch,
                    "tokens": length,
                    **ms,
                    "ratio": ms["snn"] / ms["ann"],
                }
            )
            print(
                f"{name} {batch}x{length}: {ms['ann']:.1f} ms vs {ms['snn']:.1f} ms "
                f"({ms['snn'] / ms['ann']:.2f}x)",
                flush=True,
            )
        spike_name, (sb, sn) = ("tiny", (1, 32)) if args.quick else SPIKE_CASE
        if name == spike_name and not (args.no_spike or args.profile_only):
            ids = token_batch(ann, sb, sn)
            with torch.inference_mode():
                set_mode(snn, "spike")
                stats, _ = time_cases(
                    {
                        "ann": Case(lambda m=ann, i=ids: m(i), 3),
                        "snn": Case(lambda m=snn, i=ids: m(i), 3),
                    }
                )
                set_mode(snn, "fast")
            ms = {k: 1e3 * v["median_s"] for k, v in stats.items()}
            threads = ["--threads", str(torch.get_num_threads())]
            if args.calib_sequences:
                threads += ["--calib-sequences", str(args.calib_sequences)]
            mem = {
                f"{w}_{part}": run_json_child(
                    __file__,
                    [*threads, "--child", name, w, m, part, str(sb), str(sn)],
                    LIVE_MEMORY_ENV,
                )
                for part in ("model", "decoder")
                for w, m in (("ann", "fast"), ("snn", "spike"))
            }
            extra = mem["snn_model"]["extra_bytes"] - mem["ann_model"]["extra_bytes"]
            blocks = mem["snn_decoder"]["extra_bytes"] - mem["ann_decoder"]["extra_bytes"]
            logits = T * sb * sn * int(ann.config.vocab_size) * 4
            spike = {
                "model": name,
                "batch": sb,
                "tokens": sn,
                **ms,
                "ratio": ms["snn"] / ms["ann"],
                "memory": mem,
                "extra_trains": extra / activation_train_bytes(ann, sb, sn),
                "extra_logit_trains": extra / logits,
                "decoder_extra_trains": blocks / activation_train_bytes(ann, sb, sn),
            }
        if name in args.profile_models and args.profile:
            for length in args.profile:
                text = profile(snn, ann, name, length)
                (OUT / f"profile_{name}_{length}.txt").write_text(text)
        del ann, snn
        gc.collect()
    result = {
        "threads": torch.get_num_threads(),
        "fast": rows,
        "spike": spike,
        "calibration": calib,
    }
    (OUT / "speed.json").write_text(json.dumps(result, indent=2))
    print(render(result))


def render(result: dict) -> str:
    lines = [
        f"torch {torch.__version__}, {result['threads']} threads, float32, CPU",
        "",
        "| model | batch x tokens | original ms | converted ms | ratio | goal |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["fast"]:
        ok = "ok" if r["ratio"] <= 1.5 else "above"
        lines.append(
            f"| {r['model']} (fast) | {r['batch']}x{r['tokens']} | {r['ann']:.1f} | "
            f"{r['snn']:.1f} | {r['ratio']:.2f}x | <= 1.5x ({ok}) |"
        )
    s = result["spike"]
    if s:
        ok = "ok" if s["ratio"] <= T else "above"
        lines.append(
            f"| {s['model']} (spike, T={T}) | {s['batch']}x{s['tokens']} | "
            f"{s['ann']:.1f} | {s['snn']:.1f} | {s['ratio']:.1f}x | <= {T}x ({ok}) |"
        )
        lines += [
            "",
            f"Spike-mode peak extra memory over the original (goal <= 2 trains): whole forward "
            f"{s['extra_trains']:.2f} spike trains of the widest block activation = "
            f"{s['extra_logit_trains']:.3f} trains of the logits (the peak is the converted "
            f"lm_head's output); the blocks alone (decoder without lm_head) "
            f"{s['decoder_extra_trains']:.2f} trains of the widest block activation.",
        ]
    lines += [
        "",
        "| model | calibration tokens | collect s | thresholds s | HG fit s (functions) "
        "| total ms per token | collect ms per token |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, c in result["calibration"].items():
        lines.append(
            f"| {name} | {c['tokens']} | {c['collect_s']:.1f} | {c['thresholds_s']:.1f} | "
            f"{c['fit_hg_s']:.1f} ({c['hg_functions']}) | {c['ms_per_token']:.2f} | "
            f"{c['collect_ms_per_token']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
