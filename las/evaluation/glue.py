"""GLUE-format tasks on sequence-classification models: ANN and SNN rows on the same items.

A task (``conf/glue/<name>.yaml``, :class:`GlueTaskConfig`) names its items (a Hugging Face
``datasets`` dataset, or a local JSON-lines file of the same format for offline plumbing tests),
its text fields (a sentence or a pair), its labels and its metrics. :func:`predict` runs a
``*ForSequenceClassification`` model over the items; :func:`glue_rows` scores the ANN's and the
SNN's outputs on the same items into rows with the columns of lm-eval task rows
(:func:`las.evaluation.paired.metric_row`): value and stderr of each, the paired delta and its
95 % interval, and for classification tasks the prediction agreement, the mean absolute
difference of the per-class log-probabilities and the majority flag
(:func:`las.evaluation.choices.score_measures`).

Metrics are GLUE's, computed with scikit-learn and SciPy, the functions the ``evaluate``
library's ``glue`` metric calls (that metric is a hub script: no offline use): ``acc``
(accuracy; paired normal interval over items), ``f1`` (binary, positive class 1), ``mcc``
(Matthews correlation), ``pearson``, ``spearman`` (STS-B, a regression head with one output);
the corpus-level ones get a paired bootstrap interval and bootstrap standard errors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from las.config import Name, PositiveInt, Str, typed
from las.evaluation.choices import NO_CHOICES, score_measures
from las.evaluation.paired import (
    Difference,
    bootstrap_difference,
    metric_row,
    paired_difference,
    resample,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: Local GLUE-format files (``source: local``): JSON lines with the task's text fields and label.
LOCAL_DIR = Path(__file__).resolve().parent / "glue_data"

Metric = Callable[[np.ndarray, np.ndarray], float]
MetricName = Literal["acc", "f1", "mcc", "pearson", "spearman"]
METRICS: dict[str, Metric] = {
    "acc": lambda pred, gold: float(accuracy_score(gold, pred)),
    "f1": lambda pred, gold: float(f1_score(gold, pred)),
    "mcc": lambda pred, gold: float(matthews_corrcoef(gold, pred)),
    "pearson": lambda pred, gold: float(pearsonr(pred, gold)[0]),
    "spearman": lambda pred, gold: float(spearmanr(pred, gold)[0]),
}


@typed
class GlueTaskConfig:
    """The ``glue`` config group: one GLUE-format task.

    Attributes:
        name: the task in rows and paths (``sst2``, ``mnli_mismatched``, ...).
        source: ``hub`` (``datasets.load_dataset(dataset, subset, revision=...)``, network) or
            ``local`` (``dataset`` a file of :data:`LOCAL_DIR`, offline).
        dataset: the hub dataset (``nyu-mll/glue``) or the local file name.
        subset: the hub dataset's config (the GLUE task), None for a local file.
        revision: the hub dataset's revision, None for a local file.
        split: the split scored (GLUE's test labels are hidden: its validation splits).
        text: the text field, or the two fields of a sentence pair.
        labels: class names in label-id order; empty for a regression task (one output).
        metrics: names of :data:`METRICS`.
        limit: the first ``limit`` items only, or None for all.
    """

    name: Name
    source: Literal["hub", "local"]
    dataset: Str
    subset: Str | None
    revision: Str | None
    split: Str
    text: Annotated[list[Str], Field(min_length=1, max_length=2)]
    labels: list[Str]
    metrics: Annotated[list[MetricName], Field(min_length=1)]
    limit: PositiveInt | None

    def __post_init__(self) -> None:
        if (self.source == "hub") != (self.subset is not None and self.revision is not None):
            raise ValueError("a hub task names its subset and revision; a local file neither")
        regression = {"pearson", "spearman"}
        if bool(set(self.metrics) & regression) != (not self.labels):
            raise ValueError("pearson/spearman score a regression task (labels: []) only")

    @property
    def num_labels(self) -> int:
        """Outputs of a classifier for this task (1: regression)."""
        return len(self.labels) or 1

    def items(self) -> pd.DataFrame:
        """The scored items (text fields and ``label``), in dataset order."""
        import datasets

        if self.source == "local":
            path = LOCAL_DIR / self.dataset
            data = datasets.load_dataset("json", data_files=str(path), split="train")
        else:
            data = datasets.load_dataset(
                self.dataset, self.subset, split=self.split, revision=self.revision
            )
        if self.limit is not None:
            data = data.select(range(min(self.limit, len(data))))
        return data.to_pandas()[[*self.text, "label"]]


def check_labels(task: GlueTaskConfig, model: PreTrainedModel) -> None:
    """Refuse a checkpoint whose head does not fit ``task``: another number of outputs, or named
    labels (``id2label`` other than ``LABEL_<i>``) in another order than the task's."""
    config = model.config
    if config.num_labels != task.num_labels:
        raise ValueError(
            f"{task.name} has {task.num_labels} output(s), the checkpoint's head "
            f"{config.num_labels}: pick the checkpoint fine-tuned on {task.name}"
        )
    names = [config.id2label[i].lower() for i in range(config.num_labels)]
    generic = names == [f"label_{i}" for i in range(len(names))]
    if task.labels and not generic and names != [n.lower() for n in task.labels]:
        raise ValueError(
            f"{task.name}: the checkpoint's labels {names} are not the task's {task.labels} "
            "in order; its predictions would be scored against the wrong classes"
        )


@torch.inference_mode()
def predict(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: pd.DataFrame,
    text: list[str],
    batch_size: int,
    max_length: int,
) -> torch.Tensor:
    """``[items, num_labels]`` float64 logits of ``model`` on ``items`` (sentence or pair)."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(items), batch_size):
        batch = items.iloc[start : start + batch_size]
        enc = tokenizer(
            *[batch[field].tolist() for field in text],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        out.append(model(**enc).logits.double().cpu())
    return torch.cat(out)


def _outputs(logits: torch.Tensor, regression: bool) -> np.ndarray:
    """Predicted classes (argmax), or the regression output."""
    return (logits[:, 0] if regression else logits.argmax(-1)).numpy()


def _metric_values(
    name: str, ann: np.ndarray, snn: np.ndarray, gold: np.ndarray
) -> tuple[tuple[tuple[float, float], tuple[float, float]], Difference | None]:
    """``((snn value, stderr), (ann value, stderr))`` of ``name`` and the paired difference
    (accuracy: the mean's standard error, as lm-eval's; corpus-level metrics: the bootstrap's)."""
    metric = METRICS[name]
    if name == "acc":
        a, s = (np.asarray(p == gold, dtype=float) for p in (ann, snn))
        diff = paired_difference(name, a.tolist(), s.tolist())
        stderr = [float(np.std(x, ddof=1) / np.sqrt(len(x))) for x in (a, s)]
    else:
        rows = resample(len(gold)).numpy()
        boot = np.array([[metric(p[r], gold[r]) for p in (ann, snn)] for r in rows])
        delta = metric(snn, gold) - metric(ann, gold)
        diff = bootstrap_difference(delta, torch.from_numpy(boot[:, 1] - boot[:, 0]), len(gold))
        stderr = [float(np.nanstd(boot[:, i], ddof=1)) for i in (0, 1)]
    return ((metric(snn, gold), stderr[1]), (metric(ann, gold), stderr[0])), diff


def glue_rows(
    task: GlueTaskConfig,
    gold: np.ndarray,
    ann: torch.Tensor,
    snn: torch.Tensor,
    identity: dict[str, Any],
) -> pd.DataFrame:
    """One row per metric of ``task``: SNN logits ``snn`` next to ANN logits ``ann`` on the
    items with labels ``gold`` (columns of :func:`las.evaluation.harness.result_rows`)."""
    if ann.shape != snn.shape or len(ann) != len(gold):
        raise ValueError(f"{task.name}: ANN {tuple(ann.shape)}, SNN {tuple(snn.shape)} outputs")
    regression = not task.labels
    choices = NO_CHOICES
    if not regression:
        choices = score_measures(ann.log_softmax(-1), snn.log_softmax(-1))
    a, s = _outputs(ann, regression), _outputs(snn, regression)
    rows = []
    for name in task.metrics:
        (snn_estimate, ann_estimate), diff = _metric_values(name, a, s, gold)
        row = metric_row(task.name, name, len(gold), snn_estimate, ann_estimate, diff)
        rows.append(identity | row | choices)
    return pd.DataFrame(rows)
