"""Result tables of the paper from run records and the stage outputs they name (pandas only).

Every builder takes frames loaded from the results (never recomputes a number) and returns the
table as a frame; :func:`write_table` writes it as CSV (full precision), Markdown and LaTeX.

* :func:`task_table`: Table 1, ANN vs SNN per model and lm-eval task, paired delta and 95 % CI;
* :func:`ablation_table`: fidelity and energy of every ablation of the ablated model;
* :func:`baseline_table`: methods side by side at equal T (LAS now; FAS and naive join as rows);
* :func:`energy_table`: spikes, SOPs, MACs and ``E_SNN / E_ANN`` per layer type (METHOD.md M8);
* :func:`hg_table`: HG operator errors on a dense grid and on collected activations (M4);
* :func:`vqa_table`: converted VLMs next to the originals on image-question batches.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from las.energy import summarise

#: Public LAS neurons' errors as the LAS issue quotes them (numbers only): for side-by-side rows.
PUBLIC_LAS_ERRORS = {
    "exp": "0.17 (rel, [0, 3))",
    "reciprocal": "0.11 (rel, (0.5, 1])",
    "square": "0.30 (rel)",
}
TASK_FIELDS = (
    "value",
    "stderr",
    "n",
    "ann_value",
    "ann_stderr",
    "delta",
    "delta_ci_low",
    "delta_ci_high",
    "verdict",
    "prediction_agreement",
    "choice_loglik_mad",
    "ann_majority_share",
    "snn_majority_share",
    "flag",
)
ABLATION_COLUMNS = [
    "model",
    "calibration",
    "ablation",
    "T",
    "oat",
    "hg",
    "spike_attention",
    "threshold_scale",
    "perplexity_ratio",
    "top1_agreement",
    "logits_rel_error",
    "hidden_rel_error",
    "embedding_cosine_min",
    "energy_ratio",
]


def flatten_task_rows(rows: pd.DataFrame) -> dict[str, object]:
    """``tasks.csv`` rows as scalar record fields ``<task>/<metric>/<field>`` (records and W&B
    summaries hold scalars only); :func:`task_rows` reads them back."""
    return {
        f"{row['task']}/{row['metric']}/{name}": row[name]
        for row in rows.to_dict("records")
        for name in TASK_FIELDS
    }


def task_rows(records: pd.DataFrame) -> pd.DataFrame:
    """Long rows (one per model, method, T, task, metric) from ``evaluate_tasks`` records.

    The records hold each ``tasks.csv`` row as scalar fields ``<task>/<metric>/<field>``.
    """
    rows = []
    for record in records.to_dict("records"):
        keys = {k.rsplit("/", 1)[0] for k in record if k.count("/") == 2 and pd.notna(record[k])}
        for key in sorted(keys):
            task, metric = key.split("/")
            rows.append(
                {k: record.get(k) for k in ("model", "model_id", "method", "T")}
                | {"task": task, "metric": metric}
                | {f: record.get(f"{key}/{f}") for f in TASK_FIELDS}
            )
    return pd.DataFrame(rows)


def task_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Table 1: ANN and SNN values with stderr, the paired delta and its 95 % interval.

    Multiple-choice rows add the ANN/SNN prediction agreement, the mean absolute difference of
    the per-choice log-likelihoods and the flag of a model that predicts one choice on > 90 % of
    items (its accuracy then measures the share of that choice among the gold answers).
    """
    table = rows.copy()
    table["ANN"] = [_pm(v, s) for v, s in zip(table.ann_value, table.ann_stderr, strict=True)]
    table["SNN"] = [_pm(v, s) for v, s in zip(table.value, table.stderr, strict=True)]
    table["delta [95% CI]"] = [
        f"{d:+.4g} [{lo:+.4g}, {hi:+.4g}]"
        for d, lo, hi in zip(table.delta, table.delta_ci_low, table.delta_ci_high, strict=True)
    ]
    columns = ["model", "method", "T", "task", "metric", "n", "ANN", "SNN", "delta [95% CI]"]
    table["agreement"] = table["prediction_agreement"]
    table["flag"] = table["flag"].fillna("")
    return table[[*columns, "verdict", "agreement", "choice_loglik_mad", "flag"]]


def _pm(value: float, stderr: float) -> str:
    return f"{value:.4g}" if pd.isna(stderr) else f"{value:.4g} ± {stderr:.2g}"


def ablation_table(records: pd.DataFrame) -> pd.DataFrame:
    """``evaluate`` records of every (calibration, ablation) pair, full method first."""
    table = records[[c for c in ABLATION_COLUMNS if c in records.columns]].copy()
    table["_full"] = table["ablation"] != "full"
    return table.sort_values(["model", "_full", "calibration", "ablation"]).drop(columns="_full")


def baseline_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Methods side by side at equal T: one row per (model, T, method), one column per metric.

    Cells are SNN - ANN deltas of the same run (the ANN reference is shared by all methods).
    """
    wide = rows.pivot_table(
        index=["model", "T", "method"], columns=["task", "metric"], values="delta", aggfunc="first"
    )
    wide.columns = [f"{task} {metric} delta" for task, metric in wide.columns]
    return wide.reset_index()


def energy_table(sites: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per layer type and in total: spikes, firing rate, SOPs, MACs, energies and their ratio."""
    table = summarise(sites, by="layer_type").rename_axis("layer_type").reset_index()
    table.insert(0, "model", model)
    return table


def hg_table(grid: pd.DataFrame, samples: pd.DataFrame, model: str) -> pd.DataFrame:
    """HG errors per function on the dense grid and on the collected activations."""
    merged = grid.merge(samples, on="function", how="left", suffixes=("", "_activations"))
    merged.insert(0, "model", model)
    merged["public LAS neuron"] = merged["function"].map(PUBLIC_LAS_ERRORS).fillna("-")
    return merged


VQA_COLUMNS = [
    "model",
    "weights",
    "method",
    "T",
    "items",
    "answer_tokens",
    "logits_rel_error",
    "logits_max_abs_error",
    "answer_top1_agreement",
    "generated_token_agreement",
    "generated_exact_match",
    "ann_answer_accuracy",
    "snn_answer_accuracy",
]


def vqa_table(records: pd.DataFrame) -> pd.DataFrame:
    """``evaluate_vqa`` records: fidelity of converted VLMs; ``weights`` says what they prove."""
    return records[[c for c in VQA_COLUMNS if c in records.columns]]


def write_table(table: pd.DataFrame, out: Path, name: str, title: str) -> list[Path]:
    """``<name>.csv`` (full precision), ``<name>.md`` and ``<name>.tex`` (4 significant digits)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.{ext}" for ext in ("csv", "md", "tex")]
    table.to_csv(paths[0], index=False)
    paths[1].write_text(f"### {title}\n\n{table.to_markdown(index=False, floatfmt='.4g')}\n")
    paths[2].write_text(table.to_latex(index=False, float_format="%.4g", caption=title))
    return paths
