"""Large models (issue 14): memory and time per layer of layer-by-layer calibration and of an
offloaded evaluation, on a ladder of real architecture configs with random weights.

```bash
python bench/bench_ladder.py                 # every rung (bench/out/ladder.json)
python bench/bench_ladder.py --rungs opt-350m llama2-7b-L1
```

Each rung is a ``transformers`` config of a real model (OPT-350M, LLaMA-2-7B, OPT-66B: their
widths, heads and vocabularies) with the layer count cut down, random weights (time and memory
only, never accuracy), bfloat16. Three fresh interpreters per rung: ``make`` writes the
checkpoint (safetensors), ``collect`` runs :func:`las.calibration.sequential.collect_sequential`
on it (peak RSS from the kernel counter, time per block from the per-block checkpoints),
``evaluate`` calibrates from those statistics, loads and converts the model, dispatches it with
every block offloaded to disk (:func:`las.offload.dispatch`) and times one forward per batch
(time per block from hooks around the blocks, peak RSS of the forwards). The checkpoint
is deleted after the rung.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import tempfile
import time
from pathlib import Path

from measure import peak_rss_bytes, reset_peak_rss, run_json_child

OUT = Path(__file__).resolve().parent / "out"
#: name -> (config class, real model's config fields, layers kept).
OPT_350M = dict(
    hidden_size=1024,
    ffn_dim=4096,
    num_attention_heads=16,
    word_embed_proj_dim=512,
    vocab_size=50272,
    max_position_embeddings=2048,
)
LLAMA2_7B = dict(
    hidden_size=4096,
    intermediate_size=11008,
    num_attention_heads=32,
    num_key_value_heads=32,
    vocab_size=32000,
    max_position_embeddings=4096,
)
OPT_66B = dict(
    hidden_size=9216,
    ffn_dim=36864,
    num_attention_heads=72,
    word_embed_proj_dim=9216,
    vocab_size=50272,
    max_position_embeddings=2048,
)
RUNGS = {
    "opt-350m-L2": ("OPTConfig", OPT_350M, 2),
    "opt-350m-L4": ("OPTConfig", OPT_350M, 4),
    "llama2-7b-L1": ("LlamaConfig", LLAMA2_7B, 1),
    "llama2-7b-L2": ("LlamaConfig", LLAMA2_7B, 2),
    "opt-66b-L1": ("OPTConfig", OPT_66B, 1),
    "opt-66b-L2": ("OPTConfig", OPT_66B, 2),
    "opt-66b-L13": (
        "OPTConfig",
        OPT_66B,
        13,
    ),  # 27 GB on disk: more than this machine's memory
}
#: Rungs whose evaluation is not run (their model does not fit in memory to be converted).
COLLECT_ONLY = ("opt-66b-L13",)
GPU_BYTES = 80e9
BATCHES, BATCH, TOKENS = 2, 1, 64


def config(rung: str):
    """The rung's ``transformers`` config."""
    import transformers

    cls, fields, layers = RUNGS[rung]
    extra = {"enable_bias": True} if cls == "OPTConfig" else {}
    return getattr(transformers, cls)(num_hidden_layers=layers, **fields, **extra)


def batches(vocab: int) -> list[dict]:
    """``BATCHES`` random token batches of ``BATCH x TOKENS``."""
    import torch

    gen = torch.Generator().manual_seed(0)
    ids = [torch.randint(3, vocab, (BATCH, TOKENS), generator=gen) for _ in range(BATCHES)]
    return [{"input_ids": i, "attention_mask": torch.ones_like(i)} for i in ids]


def make(rung: str, folder: Path) -> dict:
    """Write the rung's random-weight checkpoint one shard per block (never the whole model in
    memory: the model is built on the meta device and each shard's tensors drawn then saved);
    its sizes. Weights ``N(0, 0.02)``, norm scales 1, biases 0."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    from las.calibration.sequential import empty_model

    cfg = config(rung)
    model = empty_model(AutoModelForCausalLM, cfg, torch.bfloat16)
    gen = torch.Generator().manual_seed(0)
    shards: dict[str, dict[str, torch.Size]] = {}
    for (
        name,
        p,
    ) in model.named_parameters():  # tied tensors once, under their first name
        block = name.split(".layers.")[1].split(".")[0] if ".layers." in name else "rest"
        shards.setdefault(block, {})[name] = p.shape
    folder.mkdir(parents=True)
    weight_map, total = {}, 0
    for i, shapes in enumerate(shards.values()):
        file = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        tensors = {name: _draw(name, shape, gen) for name, shape in shapes.items()}
        save_file(tensors, folder / file, metadata={"format": "pt"})
        total += sum(t.numel() * t.element_size() for t in tensors.values())
        weight_map |= dict.fromkeys(tensors, file)
        del tensors
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    cfg.save_pretrained(folder)
    layer = sum(p.numel() for p in model.get_decoder().layers[0].parameters())
    return {
        "params_per_layer": layer,
        "params": model.num_parameters(),
        "checkpoint_bytes": total,
    }


def _draw(name: str, shape, gen):
    import torch

    if name.endswith("bias"):
        return torch.zeros(shape, dtype=torch.bfloat16)
    if len(shape) == 1:  # a norm's scale
        return torch.ones(shape, dtype=torch.bfloat16)
    return (torch.randn(shape, generator=gen) * 0.02).to(torch.bfloat16)


def collect(rung: str, folder: Path) -> dict:
    """Layer-by-layer calibration of the checkpoint: peak RSS and time per block."""
    import torch
    from transformers import AutoModelForCausalLM

    from las.calibration import sequential
    from las.calibration.sequential import collect_sequential, empty_model
    from las.calibration.store import save_stats

    torch.set_num_threads(1)
    data = batches(config(rung).vocab_size)
    model = empty_model(AutoModelForCausalLM, config(rung), torch.bfloat16)
    stamps: list[float] = []
    real_save = sequential._save_state

    def stamped(*args):
        real_save(*args)
        stamps.append(time.perf_counter())

    sequential._save_state = stamped
    baseline = peak_rss_bytes()
    reset_peak_rss()
    start = time.perf_counter()
    observers = collect_sequential(model, folder, data, folder.parent / "layers", rung)
    total = time.perf_counter() - start
    peak = peak_rss_bytes()
    from las.artifacts import Identity

    save_stats(
        folder.parent / "stats.safetensors",
        observers,
        Identity(rung, "random", "0", {}),
    )
    per_block = [b - a for a, b in itertools.pairwise(stamps)] or [stamps[0] - start]
    return {
        "collect_s": total,
        "collect_block_s": sorted(per_block)[len(per_block) // 2],
        "collect_first_s": stamps[0] - start,
        "collect_peak_rss": peak,
        "collect_baseline_rss": baseline,
    }


def evaluate(rung: str, folder: Path) -> dict:
    """Convert and run the model with its blocks offloaded to disk: time per block and RSS."""
    import torch
    from accelerate.utils import compute_module_sizes
    from transformers import AutoModelForCausalLM

    from las.calibration import calibrate_thresholds
    from las.calibration.ranges import hg_ranges
    from las.calibration.rules import RuleConfig
    from las.calibration.store import load_stats
    from las.conversion import Calibration, convert_model
    from las.hg_bank import fit_bank
    from las.offload import dispatch

    torch.set_num_threads(1)
    stats = load_stats(folder.parent / "stats.safetensors")
    thresholds = calibrate_thresholds(stats, RuleConfig(), 16)
    bank, _ = fit_bank(hg_ranges(stats.stats, stats.roles), K=16)
    calibration = Calibration({s: (c.theta_nor, c.theta_out) for s, c in thresholds.items()}, bank)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()
    snn = convert_model(model, calibration, inplace=True)
    sizes = compute_module_sizes(snn)
    layers = snn.get_decoder().layers
    block = sizes[next(n for n, m in snn.named_modules() if m is layers[0])]
    budget = sizes[""] - sum(sizes[n] for n, m in snn.named_modules() if m in list(layers))
    placed = dispatch(snn, {"cpu": int(budget + 1.5 * block)}, folder.parent / "offload")
    del model, snn
    spent: list[float] = []
    opened: list[float] = []
    for layer in layers:
        layer.register_forward_pre_hook(lambda *a: opened.append(time.perf_counter()))
        layer.register_forward_hook(lambda *a: spent.append(time.perf_counter() - opened[-1]))
    data = batches(placed.config.vocab_size)
    with torch.inference_mode():
        placed(**data[0])  # warm-up
        spent.clear()
        reset_peak_rss()
        start = time.perf_counter()
        for batch in data:
            placed(**batch)
        total = time.perf_counter() - start
        peak = peak_rss_bytes()
    on_disk = sum(1 for d in placed.hf_device_map.values() if d == "disk")
    return {
        "eval_s": total / len(data),
        "eval_block_s": sum(spent) / len(spent),
        "eval_peak_rss": peak,
        "eval_modules_on_disk": on_disk,
    }


def ladder_table(rows: list[dict]) -> str:
    """Markdown: the measured rungs."""
    gib = 2**30
    lines = [
        "| rung | blocks | params per block | checkpoint | collect s/block | collect peak RSS "
        "(above start) | evaluate s/block | evaluate peak RSS | device-map entries on disk |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        extra = (r["collect_peak_rss"] - r["collect_baseline_rss"]) / gib
        evaluated = "eval_block_s" in r
        lines.append(
            f"| {r['rung']} | {r['layers']} | {r['params_per_layer'] / 1e6:.0f} M | "
            f"{r['checkpoint_bytes'] / 1e9:.2f} GB | {r['collect_block_s']:.2f} | "
            f"{r['collect_peak_rss'] / gib:.2f} GiB ({extra:.2f}) | "
            + (
                f"{r['eval_block_s']:.2f} | {r['eval_peak_rss'] / gib:.2f} GiB | "
                f"{r['eval_modules_on_disk']} |"
                if evaluated
                else "not run | | |"
            )
        )
    return "\n".join(lines)


def full_configs() -> dict:
    """The real configs of the extrapolation targets (sizes from their published configs)."""
    import transformers as tf

    clip = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24)
    clip |= dict(num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768)
    qwen_text = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28)
    qwen_text |= dict(num_attention_heads=28, num_key_value_heads=4, vocab_size=152064)
    qwen_vision = dict(depth=32, embed_dim=1280, hidden_size=3584, mlp_ratio=4, num_heads=16)
    return {
        "OPT-66B": tf.OPTConfig(num_hidden_layers=64, enable_bias=True, **OPT_66B),
        "LLaMA-2-7B": tf.LlamaConfig(num_hidden_layers=32, **LLAMA2_7B),
        "LLaVA-1.5-7B": tf.LlavaConfig(
            vision_config=tf.CLIPVisionConfig(**clip),
            text_config=tf.LlamaConfig(num_hidden_layers=32, **LLAMA2_7B | {"vocab_size": 32064}),
        ),
        "Qwen2-VL-7B": tf.Qwen2VLConfig(text_config=qwen_text, vision_config=qwen_vision),
    }


def extrapolate(rows: list[dict]) -> str:
    """Markdown: device memory and CPU time of the targets on one 80 GB GPU, bf16, from the
    parameter counts of their real configs (meta device) and the ladder's time per parameter."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    from las.arch import Composite, adapter_for
    from las.calibration.sequential import empty_model
    from las.conversion.build import blocks

    def largest(key: str) -> dict:
        return max(
            (r for r in rows if key in r),
            key=lambda r: (r["params_per_layer"], r["layers"]),
        )

    collect, evaluated = largest("collect_block_s"), largest("eval_block_s")
    collect_rate = collect["collect_block_s"] / collect["params_per_layer"]
    eval_rate = evaluated["eval_block_s"] / evaluated["params_per_layer"]
    lines = [
        "| model | params | bf16 weights | blocks | largest block | collect on device "
        "(layer by layer) | evaluation on device | CPU minutes: collect / one forward |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, cfg in full_configs().items():
        composite = cfg.model_type in ("llava", "qwen2_vl")
        auto = AutoModelForImageTextToText if composite else AutoModelForCausalLM
        model = empty_model(auto, cfg, torch.bfloat16)
        total = model.num_parameters()
        found = []
        layout = adapter_for(model.config)
        parts = (
            [model]
            if not isinstance(layout, Composite)
            else [
                m
                for n, m in model.named_modules()
                if n.endswith(("language_model", "visual", "vision_tower"))
            ]
        )
        for part in parts:
            found += blocks(part, adapter_for(part.config))
        sizes = [sum(p.numel() for p in b.parameters()) for _, b in found]
        outside = total - sum(sizes)
        weights = 2 * total
        if composite:
            collect = "whole model (composite: not layer by layer), fp32 on the CPU"
        else:
            collect = f"{2 * (outside + max(sizes)) / 1e9:.1f} GB + activations"
        if weights < GPU_BYTES * 0.9:
            evaluation = f"{weights / 1e9:.1f} GB: fits, no offload"
        else:
            room = GPU_BYTES * 0.9 - 2 * outside
            on_gpu = int(room // (2 * max(sizes)))
            streamed = 2 * sum(sorted(sizes)[: len(sizes) - on_gpu])
            evaluation = (
                f"{on_gpu} of {len(sizes)} blocks on the GPU, the rest CPU-offloaded: "
                f"{streamed / 1e9:.0f} GB over PCIe per forward"
            )
        t_collect = collect_rate * sum(sizes) / 60
        t_eval = eval_rate * sum(sizes) / 60
        lines.append(
            f"| {name} | {total / 1e9:.2f} B | {weights / 1e9:.1f} GB | {len(sizes)} | "
            f"{max(sizes) / 1e6:.0f} M | {collect} | {evaluation} | "
            f"{t_collect:.1f} / {t_eval:.1f} |"
        )
    return "\n".join(lines)


def child(step: str, rung: str, folder: str) -> None:
    """A child's job: print one JSON line with the step's results."""
    result = {"make": make, "collect": collect, "evaluate": evaluate}[step](rung, Path(folder))
    print(json.dumps(result))


def run_rung(rung: str, scratch: Path) -> dict:
    """All three steps of ``rung`` in fresh interpreters; its folder removed after."""
    folder = scratch / rung
    try:
        row = {"rung": rung, "layers": RUNGS[rung][2]}
        steps = ("make", "collect") if rung in COLLECT_ONLY else ("make", "collect", "evaluate")
        for step in steps:
            row |= run_json_child(__file__, ["--child", step, rung, str(folder / "model")])
        return row
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = [r for r in RUNGS if r not in COLLECT_ONLY]
    parser.add_argument("--rungs", nargs="*", default=default, choices=list(RUNGS))
    parser.add_argument("--child", nargs=3, metavar=("STEP", "RUNG", "FOLDER"))
    parser.add_argument("--scratch", type=Path, default=None)
    parser.add_argument("--extrapolate", type=Path, metavar="LADDER_JSON", help="tables only")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.extrapolate:
        rows = json.loads(args.extrapolate.read_text())
        print(ladder_table(rows) + "\n\n" + extrapolate(rows))
        return
    OUT.mkdir(exist_ok=True)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="las-ladder-"))
    rows = []
    for rung in args.rungs:
        rows.append(run_rung(rung, scratch))
        print(json.dumps(rows[-1]), flush=True)
        (OUT / "ladder.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
