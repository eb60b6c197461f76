"""Converted model vs original on the same batch: forward time and peak memory (issue: conversion).

    python bench/bench_convert.py            # SmolLM2-135M (embedded), fast + spike mode
    python bench/bench_convert.py --quick    # tiny random LLaMA, seconds

Every measurement of memory runs in its own subprocess: resident memory sampled every 2 ms
during one forward (after a warm-up forward), and the resident memory just before it. Times are
medians of ``--repeats`` runs after one warm-up, all in one run of this script, so ratios
compare like with like.
Writes ``bench/out/convert.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
from pathlib import Path

import torch
from measure import run_json_child, sampled_peak_rss, time_one

OUT = Path(__file__).resolve().parent / "out"


def build(model_name: str):
    """(original, converted) models and a calibration, the converted one in fast mode."""
    from las import convert_model, data
    from las.arch.tiny import byte_tokenizer, tiny_model
    from las.calibration import calibrate_model
    from las.models import ModelSpec, load

    if model_name == "tiny":
        model, tokenizer = tiny_model("llama"), byte_tokenizer()
    else:
        loaded = load(ModelSpec(name="smollm2_135m", source="embedded", id="smollm2-135m"))
        model, tokenizer = loaded.model, loaded.tokenizer
    cfg = data.data_config("embedded_prose", calib_sequences=8)
    cfg = dataclasses.replace(cfg, seq_len=128, eval_sequences=8, batch_size=4)
    calibration, _ = calibrate_model(model, data.calibration_batches(tokenizer, cfg))
    return model, convert_model(model, calibration), tokenizer


def child(model_name: str, which: str, mode: str, batch: int, length: int) -> None:
    """Subprocess body: one forward of one model; print peak RSS growth (bytes) as JSON."""
    from las.ops import set_mode

    torch.manual_seed(0)
    ann, snn, _ = build(model_name)
    model = ann if which == "ann" else snn
    set_mode(snn, mode)
    ids = torch.randint(0, 200, (batch, length))
    with torch.inference_mode():
        model(ids)  # warm-up: allocator pools and lazily built tables exist before measuring
        gc.collect()
        with sampled_peak_rss() as report:
            model(ids)
    print(json.dumps(report))


def peak_memory(model_name: str, which: str, mode: str, batch: int, length: int) -> dict:
    """Resident memory before and at the peak of one forward, in a fresh interpreter."""
    return run_json_child(__file__, ["--child", model_name, which, mode, str(batch), str(length)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=5)
    args = parser.parse_args()
    if args.child:
        name, which, mode, batch, length = args.child
        child(name, which, mode, int(batch), int(length))
        return
    from las.ops import set_mode

    name = "tiny" if args.quick else "smollm2"
    torch.manual_seed(0)
    ann, snn, _ = build(name)
    fast_shape, spike_shape = ((4, 128), (1, 32))
    ids = torch.randint(0, 200, fast_shape)
    short = torch.randint(0, 200, spike_shape)
    rows = {}
    with torch.inference_mode():
        rows["ann"] = time_one(lambda: ann(ids), args.repeats)
        rows["snn_fast"] = time_one(lambda: snn(ids), args.repeats)
        rows["ann_short"] = time_one(lambda: ann(short), args.repeats)
        set_mode(snn, "spike")
        rows["snn_spike_short"] = time_one(lambda: snn(short), 1)
    memory = {
        "ann": peak_memory(name, "ann", "fast", *fast_shape),
        "snn_fast": peak_memory(name, "snn", "fast", *fast_shape),
        "ann_short": peak_memory(name, "ann", "fast", *spike_shape),
        "snn_spike_short": peak_memory(name, "snn", "spike", *spike_shape),
    }

    def growth(key: str) -> int:
        return max(memory[key]["peak_bytes"] - memory[key]["baseline_bytes"], 1)

    result = {
        "model": name,
        "threads": torch.get_num_threads(),
        "times_s": rows,
        "memory": memory,
        "fast_over_ann": rows["snn_fast"] / rows["ann"],
        "spike_over_ann": rows["snn_spike_short"] / rows["ann_short"],
        "fast_activation_memory_over_ann": growth("snn_fast") / growth("ann"),
        "spike_peak_memory_over_ann": memory["snn_spike_short"]["peak_bytes"]
        / memory["ann_short"]["peak_bytes"],
        "spike_activation_growth_bytes": growth("snn_spike_short"),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "convert.json").write_text(json.dumps(result, indent=2))
    print(f"| {name} | batch | time ratio (goal) | peak memory ratio (goal) |\n|---|---|---|---|")
    print(
        f"| fast vs original | {fast_shape} | {result['fast_over_ann']:.2f}x (<= 1.5x) | "
        f"{result['fast_activation_memory_over_ann']:.2f}x (activations) |"
    )
    print(
        f"| spike (T=16) vs original | {spike_shape} | {result['spike_over_ann']:.1f}x (<= 16x)"
        f" | {result['spike_peak_memory_over_ann']:.2f}x (<= 2x, whole process) |"
    )


if __name__ == "__main__":
    main()
