"""Result tables of the paper from run records and the stage outputs they name (pandas only).

Every builder takes frames loaded from the results (never recomputes a number) and returns the
table as a frame; :func:`write_table` writes it as CSV (full precision), Markdown and LaTeX.

* :func:`task_table`: Table 1, ANN vs SNN per model and task (lm-eval; encoder probes), paired
  delta and 95 % CI;
* :func:`ablation_table`: fidelity and energy of every ablation of the ablated model;
* :func:`baseline_table`: LAS, FAS and naive at equal T beside the ANN (fidelity, tasks, energy);
* :func:`frontier_table`: ``E_SNN / E_ANN`` against fidelity of every full-method point of the
  causal LMs (code, T, bit allocation) and the baselines, its Pareto points and the goal;
* :func:`energy_table`: spikes, SOPs, MACs and ``E_SNN / E_ANN`` per layer type (METHOD.md M8);
* :func:`hg_table`: HG operator errors on a dense grid and on collected activations (M4);
* :func:`vqa_table`: converted VLMs next to the originals on image-question batches.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from las.assets import asset_label
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
    "code",
    "oat",
    "hg",
    "spike_attention",
    "threshold_scale",
    "allocation",
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
    items (its accuracy then measures the share of that choice among the gold answers); probe
    rows the same of the probes' class log-probabilities, word-similarity rows the Spearman
    correlation of the ANN and SNN similarities as agreement (:mod:`las.evaluation.probe`).
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
    table["asset"] = table["model_id"].map(asset_label)
    return table[[*columns, "verdict", "agreement", "choice_loglik_mad", "flag", "asset"]]


def _pm(value: float, stderr: float) -> str:
    return f"{value:.4g}" if pd.isna(stderr) else f"{value:.4g} ± {stderr:.2g}"


def ablation_table(records: pd.DataFrame) -> pd.DataFrame:
    """``evaluate`` records of every (calibration, ablation) pair of LAS, full method first."""
    if "method" in records.columns:
        records = records[records["method"] == "las"]
    table = records[[c for c in ABLATION_COLUMNS if c in records.columns]].copy()
    table["_full"] = table["ablation"] != "full"
    return table.sort_values(["model", "_full", "calibration", "ablation"]).drop(columns="_full")


#: The baselines of METHOD.md M9 and M10, in table order after LAS.
BASELINES = ("fas", "naive")
METHOD_ORDER = {"ANN": 0, "las": 1, "fas": 2, "naive": 3}
BASELINE_METRICS = ["perplexity_ratio", "top1_agreement", "energy_ratio"]


def uniform_bits(records: pd.DataFrame) -> pd.Series:
    """Which records code every site with all ``T`` bits (no per-site allocation, M12: only an
    allocated conversion's record carries an ``allocation`` label)."""
    if "allocation" not in records.columns:
        return pd.Series(True, index=records.index)
    return records["allocation"].isna()


def baseline_rows(evaluate: pd.DataFrame) -> pd.DataFrame:
    """The ``evaluate`` records of the baseline comparison: every FAS and naive record, and the
    LAS records (``mse`` rule, ``full`` or a ``T`` ablation, all ``T`` bits at every site) at the
    T values the baselines have (every such LAS record when there is no baseline)."""
    if not {"method", "calibration", "ablation", "T"} <= set(evaluate.columns):
        return evaluate.iloc[0:0]
    base = evaluate[evaluate["method"].isin(BASELINES)]
    las = evaluate[
        (evaluate["method"] == "las")
        & (evaluate["calibration"] == "mse")
        & evaluate["ablation"].astype(str).str.fullmatch(r"full|T\d+")
        & uniform_bits(evaluate)
    ]
    if len(base):
        las = las[las["model"].isin(base["model"]) & las["T"].isin(base["T"])]
    return pd.concat([las, base], ignore_index=True)


def _ci(row: pd.Series) -> str:
    return f"{row.delta:+.4g} [{row.delta_ci_low:+.4g}, {row.delta_ci_high:+.4g}]"


def baseline_table(
    evaluate: pd.DataFrame, tasks: pd.DataFrame | None = None, finetune: pd.DataFrame | None = None
) -> pd.DataFrame:
    """LAS, FAS and naive at equal T beside the ANN (:func:`baseline_rows`).

    One row per (model, method, T), and an ``ANN`` row per model: ``spiking parts`` (what
    spikes), perplexity ratio, top-1 agreement and ``E_SNN / E_ANN`` from the ``evaluate``
    records (the ANN's are 1 by definition), and per task metric of the ``evaluate_tasks`` rows
    of the same (model, method, T) the paired delta with its 95 % interval (the ANN row: its
    value) and the verdict, which claims a difference only outside that interval. ``finetune``
    (``finetune_qcfs`` records) gives the FAS rows their fine-tuning budget.
    """
    runs = baseline_rows(evaluate)
    columns = ["model", "method", "T", "spiking_parts", *BASELINE_METRICS]
    table = runs[[c for c in columns if c in runs.columns]].copy()
    ann = pd.DataFrame({"model": sorted(set(table["model"])), "method": "ANN"})
    ann["spiking_parts"] = "nothing (the ANN)"
    for metric in BASELINE_METRICS:
        ann[metric] = 1.0
    table = pd.concat([ann, table], ignore_index=True)
    if finetune is not None and len(finetune):
        budget = {
            r.model: f"{int(r.steps)} steps, {int(r.tokens_trained)} tokens"
            for r in finetune.itertuples()
        }
        table["fine-tuning"] = [
            budget.get(m, "-") if x == "fas" else "-"
            for m, x in zip(table["model"], table["method"], strict=True)
        ]
    if tasks is not None:  # only the tasks of the compared models get columns
        tasks = tasks[tasks["model"].isin(table["model"])]
    if tasks is not None and len(tasks):
        for (task, metric), group in tasks.groupby(["task", "metric"], sort=True):
            cells, verdicts = {}, {}
            for row in group.itertuples():
                cells[(row.model, row.method, row.T)] = _ci(row)
                verdicts[(row.model, row.method, row.T)] = row.verdict
                cells.setdefault((row.model, "ANN", None), _pm(row.ann_value, row.ann_stderr))
            keys = [
                (m, x, None if x == "ANN" else t)
                for m, x, t in zip(table["model"], table["method"], table["T"], strict=True)
            ]
            table[f"{task} {metric} delta [95% CI]"] = [cells.get(k, "-") for k in keys]
            table[f"{task} {metric} verdict"] = [verdicts.get(k, "-") for k in keys]
    table["_order"] = table["method"].map(METHOD_ORDER)
    table = table.sort_values(["model", "T", "_order"], na_position="first", kind="stable")
    first = [c for c in columns if c in table.columns]
    rest = [c for c in table.columns if c not in (*first, "_order")]
    return table[[*first, *rest]].reset_index(drop=True)


#: The goal of the energy issue (12) for SmolLM2 on held-out text, as bounds on a frontier row.
GOAL = {"energy_ratio": 0.5, "perplexity_ratio": 1.01, "top1_agreement": 0.99}
FRONTIER_COLUMNS = [
    "model",
    "series",
    "method",
    "code",
    "T",
    "allocation",
    "calibration",
    "ablation",
    "energy_ratio",
    "perplexity_ratio",
    "top1_agreement",
    "logits_rel_error",
    "within_fidelity",
    "pareto",
    "meets_goal",
]


def frontier_rows(evaluate: pd.DataFrame) -> pd.DataFrame:
    """The ``evaluate`` records of causal LMs on the frontier: every FAS and naive record, and
    every LAS record of the full method (``mse`` thresholds, OAT, HG and spiking attention on,
    threshold scale 1) at any T, code (M1, M11) and bit allocation (M12)."""
    needed = {"method", "task", "T", "perplexity_ratio", "top1_agreement", "energy_ratio"}
    if not needed <= set(evaluate.columns):
        return evaluate.iloc[0:0]
    rows = evaluate[evaluate["task"] == "causal_lm"]
    las = rows["method"] == "las"
    for column, value in (
        ("calibration", "mse"),
        ("oat", True),
        ("hg", True),
        ("spike_attention", True),
        ("threshold_scale", 1.0),
    ):
        if column in rows.columns:
            las &= rows[column] == value
    return rows[las | rows["method"].isin(BASELINES)]


def frontier_table(evaluate: pd.DataFrame) -> pd.DataFrame:
    """``E_SNN / E_ANN`` against the perplexity ratio and the top-1 agreement
    (:func:`frontier_rows`), one row per point, by model and energy.

    ``series`` names the family of a point (``LAS binary``, ``LAS naf``, the same ``+ allocation``,
    ``FAS``, ``naive``); ``within_fidelity``: the fidelity bounds of :data:`GOAL` hold
    (perplexity ratio and top-1 agreement, whatever the energy); ``pareto``: a point within them
    that no other point of the model within them dominates (at most its energy and perplexity
    ratio and at least its top-1 agreement, one of them strictly). A degenerate point (cheap, far
    outside the bounds, such as a baseline at perplexity ratio 1.05 or worse) is never a
    candidate, so the Pareto points are the energies reachable at the goal's fidelity.
    ``meets_goal``: every bound of :data:`GOAL` holds (issue 12: its goal is for SmolLM2, the
    column says it for every model). Numbers are the records', never recomputed.
    """
    rows = frontier_rows(evaluate).copy()
    if rows.empty:
        return pd.DataFrame(columns=FRONTIER_COLUMNS)
    if "code" not in rows.columns:
        rows["code"] = None
    rows["code"] = rows["code"].where(rows["method"] == "las")
    if "allocation" not in rows.columns:
        rows["allocation"] = None
    allocated = ~uniform_bits(rows)
    names = {"las": "LAS", "fas": "FAS", "naive": "naive"}
    rows["series"] = [
        names[m] + (f" {c}" if isinstance(c, str) else "") + (" + allocation" if a else "")
        for m, c, a in zip(rows["method"], rows["code"], allocated, strict=True)
    ]
    energy, ppl, top1 = (rows[m].to_numpy() for m in GOAL)
    model = rows["model"].to_numpy()
    within = (ppl <= GOAL["perplexity_ratio"]) & (top1 >= GOAL["top1_agreement"])
    rows["within_fidelity"] = within
    rows["pareto"] = [
        bool(within[i])
        and not (
            within
            & (model == model[i])
            & (energy <= energy[i])
            & (ppl <= ppl[i])
            & (top1 >= top1[i])
            & ((energy < energy[i]) | (ppl < ppl[i]) | (top1 > top1[i]))
        ).any()
        for i in range(len(rows))
    ]
    rows["meets_goal"] = within & (energy <= GOAL["energy_ratio"])
    table = rows[[c for c in FRONTIER_COLUMNS if c in rows.columns]]
    return table.sort_values(["model", "energy_ratio"], kind="stable").reset_index(drop=True)


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
