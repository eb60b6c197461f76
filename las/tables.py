"""Stage ``tables``: result tables from the evaluation records (``python -m las.tables``).

Reads the records of the ``evaluate``, ``evaluate_tasks``, ``evaluate_probe``, ``evaluate_glue``
and ``evaluate_vlm_tasks`` runs (:mod:`las.records`): the declared ``metrics.json`` files (never
walks directories) or, only when asked with ``--source wandb``, the W&B runs those files name,
through ``wandb.Api`` (W&B never gates a table). Per-site and per-function tables (energy per layer
type, HG errors) come from the CSV files the stages wrote next to their records (``--spikes``,
``--fit-hg``). Writes Markdown, LaTeX and CSV into ``--out`` (``reports/<experiment>``):
``fidelity``, ``tasks`` (Table 1: lm-eval rows of causal LMs, probe and word-similarity rows of
encoders, GLUE rows of sequence classifiers, lm-eval image-task rows of VLMs, all with the same
fields), ``ablations``, ``baselines`` (LAS, FAS and naive at equal T beside the ANN;
``--finetune``: the FAS fine-tuning budget), ``frontier`` (``E_SNN / E_ANN`` against fidelity of
every code, T and bit allocation of the causal LMs and the baselines), ``energy``, ``hg_errors``
(:mod:`las.reporting`). Numbers are copied, never recomputed or rounded in the CSV (the Markdown
and LaTeX show 4 significant digits).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from las import reporting
from las.assets import asset_label
from las.conversion.config import ConversionConfig
from las.records import COLUMNS, load_records, locate, mirrored_records

CAUSAL = [
    "model",
    "calibration",
    "T",
    "tokens",
    "ann_perplexity",
    "snn_perplexity",
    "perplexity_ratio",
    "top1_agreement",
    "logits_rel_error",
    "hg_inputs_clamped",
]
ENCODER = [
    "model",
    "calibration",
    "T",
    "tokens",
    "sentences",
    "hidden_rel_error",
    "embedding_cosine_min",
    "embedding_cosine_mean",
    "hg_inputs_clamped",
]
IDENTITY = ["model", "task", "model_id", "revision", "T", "mode", "thresholds_hash", "bank_hash"]
METRICS = [
    "tokens",
    "ann_perplexity",
    "snn_perplexity",
    "perplexity_ratio",
    "top1_agreement",
    "logits_rel_error",
    "logits_max_abs_error",
    "energy_ratio",
    "hg_inputs_clamped",
    "sentences",
    "hidden_rel_error",
    "embedding_cosine_min",
    "embedding_cosine_mean",
]
#: T of the full method: Table 1's rows (the baselines table has every T).
FULL_T = ConversionConfig().T


def fidelity_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per evaluated model/configuration, with the asset used.

    ``records``: the ``evaluate`` records (``load_records(..., stage="evaluate")``). Columns:
    :data:`IDENTITY`, :data:`METRICS`, any other field of the stage (sorted), ``asset``.
    """
    known = [c for c in (*IDENTITY, *METRICS) if c in records.columns]
    other = [c for c in records.columns if c not in (*COLUMNS, *known)]
    table = records[[*known, *other]].copy()
    table["asset"] = table["model_id"].map(asset_label)
    return table


def write_fidelity(table: pd.DataFrame, out: Path) -> None:
    """``fidelity.csv`` (all columns), ``fidelity.md`` and ``fidelity.tex`` (one part per task)."""
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "fidelity.csv", index=False)
    parts = []
    for title, columns, mask in (
        ("Causal LMs: SNN vs ANN on held-out text", CAUSAL, table["task"] == "causal_lm"),
        ("Encoders: SNN vs ANN on held-out sentences", ENCODER, table["task"] == "encoder"),
    ):
        if mask.any():
            present = [c for c in columns if c in table.columns]
            parts.append((title, table.loc[mask, [*present, "asset"]]))
    (out / "fidelity.md").write_text(
        "\n\n".join(f"### {t}\n\n{p.to_markdown(index=False, floatfmt='.4g')}" for t, p in parts)
        + "\n"
    )
    (out / "fidelity.tex").write_text(
        "\n".join(p.to_latex(index=False, float_format="%.4g", caption=t) for t, p in parts)
    )


def write_reports(
    evaluate: pd.DataFrame,
    tasks: pd.DataFrame | None,
    spikes: list[Path],
    fit_hg: list[Path],
    out: Path,
    finetune: pd.DataFrame | None = None,
) -> None:
    """Every table of :mod:`las.reporting` that has data, into ``out``."""
    full = evaluate[evaluate["ablation"] == "full"] if "ablation" in evaluate.columns else evaluate
    write_fidelity(fidelity_table(full), out)
    if "ablation" in evaluate.columns:
        reporting.write_table(
            reporting.ablation_table(evaluate), out, "ablations", "Ablations: fidelity and energy"
        )
    if tasks is not None and len(tasks):
        rows = reporting.task_rows(tasks)
        reporting.write_table(
            reporting.task_table(rows[rows["T"] == FULL_T]),
            out,
            "tasks",
            f"Table 1: ANN vs SNN on lm-eval tasks, encoder probes and GLUE (T = {FULL_T})",
        )
    else:
        rows = None
    if len(reporting.baseline_rows(evaluate)):
        reporting.write_table(
            reporting.baseline_table(evaluate, rows, finetune),
            out,
            "baselines",
            "LAS, FAS and naive at equal T beside the ANN (SNN - ANN, 95 % CI)",
        )
    frontier = reporting.frontier_table(evaluate)
    if len(frontier):
        reporting.write_table(
            frontier,
            out,
            "frontier",
            "Energy against fidelity on held-out text: codes, T, bit allocations, baselines",
        )
    if spikes:
        energy = pd.concat(
            [reporting.energy_table(pd.read_csv(p), locate(p, "evaluate")[0]) for p in spikes]
        )
        reporting.write_table(energy, out, "energy", "Energy per layer type (METHOD.md M8)")
    if fit_hg:
        hg = pd.concat(
            [
                reporting.hg_table(
                    pd.read_csv(d / "hg_errors.csv"),
                    pd.read_csv(d / "hg_sample_errors.csv"),
                    locate(d / "hg_errors.csv", "fit_hg")[0],
                )
                for d in fit_hg
            ]
        )
        reporting.write_table(hg, out, "hg_errors", "HG operator errors: dense grid, activations")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (reports/)")
    parser.add_argument(
        "--source",
        choices=("local", "wandb"),
        default="local",
        help="read the records from the files (default), or from the W&B runs they name",
    )
    parser.add_argument("--tasks", nargs="*", type=Path, default=[], help="evaluate_tasks records")
    parser.add_argument("--probes", nargs="*", type=Path, default=[], help="evaluate_probe records")
    parser.add_argument("--glue", nargs="*", type=Path, default=[], help="evaluate_glue records")
    parser.add_argument(
        "--vlm-tasks", nargs="*", type=Path, default=[], help="evaluate_vlm_tasks records"
    )
    parser.add_argument("--vqa", nargs="*", type=Path, default=[], help="evaluate_vqa records")
    parser.add_argument("--spikes", nargs="*", type=Path, default=[], help="evaluate spikes.csv")
    parser.add_argument("--fit-hg", nargs="*", type=Path, default=[], help="fit_hg folders")
    parser.add_argument(
        "--finetune", nargs="*", type=Path, default=[], help="finetune_qcfs records (FAS budget)"
    )
    parser.add_argument("records", nargs="+", type=Path, help="metrics.json files of evaluate")
    args = parser.parse_args(argv)
    load = mirrored_records if args.source == "wandb" else load_records
    # Table 1's rows: lm-eval tasks of causal LMs, probes and word similarity of encoders, GLUE,
    # lm-eval image tasks of VLMs.
    sources = (
        (args.tasks, "evaluate_tasks"),
        (args.probes, "evaluate_probe"),
        (args.glue, "evaluate_glue"),
        (args.vlm_tasks, "evaluate_vlm_tasks"),
    )
    loaded = [load(paths, stage) for paths, stage in sources if paths]
    tasks = pd.concat(loaded, ignore_index=True) if loaded else None
    finetune = load(args.finetune, "finetune_qcfs") if args.finetune else None
    evaluate = load(args.records, "evaluate")
    write_reports(evaluate, tasks, args.spikes, args.fit_hg, args.out, finetune)
    if args.vqa:
        reporting.write_table(
            reporting.vqa_table(load(args.vqa, "evaluate_vqa")),
            args.out,
            "vqa",
            "Vision-language models: SNN vs ANN on image-question batches",
        )


if __name__ == "__main__":
    main()
