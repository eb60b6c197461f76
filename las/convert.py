"""Stage ``convert``: the converted model as a folder that loads back in one call.

``python -m las.convert`` checks the artifacts of the configured ``method`` (made for this
model, by the configured upstream runs) and writes ``converted.json``, copies of those artifacts
and ``metrics.json`` into ``output_dir`` (:mod:`las.converted`); the original weights are
referenced by id and hash, not copied. The artifacts by method:

* ``las``: ``thresholds`` (``calibrate``, with this ``calibration`` rule) and ``bank``
  (``fit_hg``);
* ``naive`` (METHOD.md M10): ``stats`` (``collect``), from which this stage takes each site's
  percentile threshold (``method.percentile``);
* ``fas`` (M9): ``fas_neurons`` (``calibrate_fas`` for this ``conversion.T``) and ``weights``
  (``finetune_qcfs``; both from one fine-tuning run).

``las.load_converted(output_dir)`` returns the converted ``PreTrainedModel``; ``evaluate``,
``evaluate_tasks`` and ``las-eval --model_args pretrained=<output_dir>`` read the folder, the
same way for every method.
"""

from __future__ import annotations

from pathlib import Path

import torch

from las.artifacts import write_artifact
from las.calibration.rules import RuleConfig
from las.calibration.store import load_stats
from las.config import Name, Str, config_hash, plain, typed
from las.conversion.config import ConversionConfig
from las.converted import BANK, FAS, NAIVE, THRESHOLDS, write_converted
from las.evaluation.configs import MethodConfig
from las.evaluation.methods import SPIKING_PARTS
from las.fas.qcfs import WEIGHTS
from las.models import ModelSpec
from las.naive import naive_thresholds
from las.stage import Input, StageConfig, StageContext, StageResult, entry_point


@typed
class ConvertConfig(
    StageConfig, stage="convert", paths=("thresholds", "bank", "stats", "fas_neurons", "weights")
):
    """``conf/convert.yaml``: the method, the conversion switches, its label and the artifacts.

    ``calibration`` must be the rule the thresholds were calibrated with (checked, ``las``): the
    label a result carries comes from the artifact, never from an override that disagrees with
    it. Only the paths of ``method`` are read (module docstring).
    """

    model: ModelSpec
    method: MethodConfig
    calibration: RuleConfig
    conversion: ConversionConfig
    ablation: Name
    thresholds: Str
    bank: Str
    stats: Str
    fas_neurons: Str
    weights: Str

    def __post_init__(self) -> None:
        if self.method.name == "none":
            raise ValueError("method 'none' is the original network: there is nothing to convert")

    def inputs(self) -> dict[str, Input]:
        model = plain(self.model)
        if self.method.name == "naive":
            return {"stats": Input(Path(self.stats), "collect", {"collect.model": model})}
        if self.method.name == "fas":
            expect = {"calibrate_fas.model": model, "calibrate_fas.conversion.T": self.conversion.T}
            return {
                "fas": Input(Path(self.fas_neurons), "calibrate_fas", expect),
                "weights": Input(
                    Path(self.weights), "finetune_qcfs", {"finetune_qcfs.model": model}
                ),
            }
        expect = {"calibrate.model": model, "calibrate.calibration": plain(self.calibration)}
        return {
            "thresholds": Input(Path(self.thresholds), "calibrate", expect),
            "bank": Input(Path(self.bank), "fit_hg", {"fit_hg.model": model}),
        }


def _las(cfg: ConvertConfig, ctx: StageContext) -> tuple[dict, dict[str, Path]]:
    labels = {
        "calibration": cfg.calibration.name,
        "thresholds_hash": ctx.inputs["thresholds"].config_hash,
        "bank_hash": ctx.inputs["bank"].config_hash,
    }
    return labels, {THRESHOLDS: Path(cfg.thresholds), BANK: Path(cfg.bank)}


def _naive(cfg: ConvertConfig, ctx: StageContext) -> tuple[dict, dict[str, Path]]:
    collected = load_stats(Path(cfg.stats))
    thresholds = naive_thresholds(collected.stats, collected.roles, cfg.method.percentile)
    path = ctx.work / f".{NAIVE}"
    tensors = {site: torch.tensor(theta, dtype=torch.float32) for site, theta in thresholds.items()}
    identity = ctx.identity(collected.identity.model_id, collected.identity.revision)
    write_artifact(path, tensors, identity, {"percentile": cfg.method.percentile})
    labels = {
        "calibration": "naive",
        "percentile": cfg.method.percentile,
        "thresholds_hash": config_hash(dict(sorted(thresholds.items()))),
    }
    return labels, {NAIVE: path}


def _fas(cfg: ConvertConfig, ctx: StageContext) -> tuple[dict, dict[str, Path]]:
    labels = {"calibration": "fas", "thresholds_hash": ctx.inputs["fas"].config_hash}
    return labels, {FAS: Path(cfg.fas_neurons), WEIGHTS: Path(cfg.weights)}


def run(cfg: ConvertConfig, ctx: StageContext) -> StageResult:
    """Write the converted-model folder."""
    method = cfg.method.name
    source = next(iter(ctx.inputs.values()))
    identity = ctx.identity(source.model_id, source.revision)
    labels, artifacts = {"las": _las, "naive": _naive, "fas": _fas}[method](cfg, ctx)
    labels |= {"ablation": cfg.ablation, "spiking_parts": SPIKING_PARTS[method]}
    files = write_converted(
        ctx.work, cfg.model, cfg.conversion, labels, identity, artifacts, method
    )
    (ctx.work / f".{NAIVE}").unlink(missing_ok=True)
    fields = {"model_id": identity.model_id, "revision": identity.revision, "method": method}
    return StageResult(fields | labels | plain(cfg.conversion), files=files)


main = entry_point(ConvertConfig, run)

if __name__ == "__main__":
    main()
