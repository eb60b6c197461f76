"""Stage ``convert``: the converted model as a folder that loads back in one call.

``python -m las.convert`` checks the artifacts of the configured ``method`` (made for this
model, by the configured upstream runs) and writes ``converted.json``, copies of those artifacts
and ``metrics.json`` into ``output_dir`` (:mod:`las.converted`); the original weights are
referenced by id and hash, not copied. The artifacts by method:

* ``las``: ``thresholds`` (``calibrate``, with this ``calibration`` rule) and ``bank``
  (``fit_hg``); a rule with an ``allocation`` (METHOD.md M12) has this stage choose the bits per
  site on the first ``allocation.batches`` batches of the calibration text (the ``data`` config
  of the ``collect`` run the thresholds come from; more of its sequences when the rule needs
  them), checked on the ``allocation.check_batches`` after them: it loads the model, writes
  ``allocation.safetensors`` into the folder, ``allocation.csv`` (bits, sensitivity and energy per
  site) beside it, and the allocation's record (energy and fidelity of uniform ``T`` and of the
  allocation on that text, ``lam``, the bits histogram, seconds) into ``metrics.json``;
* ``naive`` (METHOD.md M10): ``stats`` (``collect``), from which this stage takes each site's
  percentile threshold (``method.percentile``);
* ``fas`` (M9): ``fas_neurons`` (``calibrate_fas`` for this ``conversion.T``) and ``weights``
  (``finetune_qcfs``; both from one fine-tuning run).

``las.load_converted(output_dir)`` returns the converted ``PreTrainedModel``; ``evaluate``,
``evaluate_tasks`` and ``las-eval --model_args pretrained=<output_dir>`` read the folder, the
same way for every method.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from las import data, models
from las.artifacts import read_artifact, write_artifact
from las.calibration.allocation import allocate_bits
from las.calibration.rules import RuleConfig
from las.calibration.store import load_stats, load_thresholds, save_allocation
from las.config import Name, Str, build, config_hash, plain, typed
from las.conversion import Calibration
from las.conversion.config import ConversionConfig
from las.converted import ALLOCATION, BANK, FAS, NAIVE, THRESHOLDS, write_converted
from las.evaluation.configs import MethodConfig
from las.evaluation.methods import SPIKING_PARTS
from las.fas.qcfs import WEIGHTS
from las.hg_bank import load_bank
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
        if self.calibration.allocation is not None and self.method.name != "las":
            raise ValueError(
                f"a bit allocation (calibration.allocation) is LAS's; method {self.method.name!r} "
                "does not read it: choose a calibration without one"
            )
        if self.calibration.allocation is not None and self.model.task != "causal_lm":
            raise ValueError(
                "a bit allocation measures next-token fidelity: it needs a causal LM, "
                f"not task {self.model.task!r}"
            )

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
    artifacts = {THRESHOLDS: Path(cfg.thresholds), BANK: Path(cfg.bank)}
    if cfg.calibration.allocation is None:
        return labels, artifacts
    # Only an allocated folder carries these labels (as only naive's carries its percentile),
    # so records and tables of uniform-T conversions keep their columns.
    bits, record = _allocate(cfg, ctx)
    labels["allocation_hash"] = config_hash(dict(sorted(bits.items())))
    labels["allocation"] = f"{record['metric']}<={record['budget']}"
    return labels, artifacts | {ALLOCATION: ctx.work / f".{ALLOCATION}"}


def _allocate(cfg: ConvertConfig, ctx: StageContext) -> tuple[dict[str, int], dict]:
    """The bits per site (M12) on the calibration text, written to ``.allocation.safetensors``
    and ``allocation.csv`` in the work folder; returns them and the allocation's record."""
    rule, loaded = cfg.calibration.allocation, models.load(cfg.model)
    thresholds, _ = load_thresholds(Path(cfg.thresholds), loaded.model_id, loaded.revision)
    bank, _ = load_bank(Path(cfg.bank), loaded.model_id, loaded.revision)
    text = build(data.DataConfig, ctx.lineage["collect"]["config"]["data"], "collect's data")
    # more calibration sequences than collect read when the rule asks for them: the same
    # calibration documents (never evaluation text), the first ones those collect read
    wanted = (rule.batches + rule.check_batches) * text.batch_size
    text = dataclasses.replace(text, calib_sequences=max(text.calib_sequences, wanted))
    batches = data.calibration_batches(loaded.tokenizer, text)
    fit, check = batches[: rule.batches], batches[rule.batches : rule.batches + rule.check_batches]
    calibration = Calibration(thresholds, bank)
    found = allocate_bits(loaded.model, calibration, fit, cfg.conversion, rule, check=check)
    identity = ctx.identity(loaded.model_id, loaded.revision)
    save_allocation(ctx.work / f".{ALLOCATION}", found.bits, identity, found.record)
    found.sites.to_csv(ctx.work / "allocation.csv", index=False)
    return found.bits, found.record


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
    for hidden in (NAIVE, ALLOCATION):
        (ctx.work / f".{hidden}").unlink(missing_ok=True)
    if (ctx.work / "allocation.csv").exists():
        files.append("allocation.csv")
    fields = {"model_id": identity.model_id, "revision": identity.revision, "method": method}
    if ALLOCATION in artifacts:
        fields["allocation_record"] = read_artifact(ctx.work / ALLOCATION, "convert")[2]
    return StageResult(fields | labels | plain(cfg.conversion), files=files)


main = entry_point(ConvertConfig, run)

if __name__ == "__main__":
    main()
