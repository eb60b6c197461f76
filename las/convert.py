"""Stage ``convert``: the converted model as a folder that loads back in one call.

``python -m las.convert`` checks the calibration artifacts (made for this model, with this
calibration rule, from one statistics run) and writes ``converted.json``, copies of the two
artifacts and ``metrics.json`` into ``output_dir`` (:mod:`las.converted`); the original weights
are referenced by id and hash, not copied. ``las.load_converted(output_dir)`` returns the
converted ``PreTrainedModel``; ``evaluate``, ``evaluate_tasks`` and
``las-eval --model_args pretrained=<output_dir>`` read the folder.
"""

from __future__ import annotations

from pathlib import Path

from las.calibration.rules import RuleConfig
from las.config import Name, Str, plain, typed
from las.conversion.config import ConversionConfig
from las.converted import write_converted
from las.models import ModelSpec
from las.stage import Input, StageConfig, StageContext, StageResult, entry_point


@typed
class ConvertConfig(StageConfig, stage="convert", paths=("thresholds", "bank")):
    """``conf/convert.yaml``: the conversion switches, its ablation label and the artifacts.

    ``calibration`` must be the rule the thresholds were calibrated with (checked): the label a
    result carries comes from the artifact, never from an override that disagrees with it.
    """

    model: ModelSpec
    calibration: RuleConfig
    conversion: ConversionConfig
    ablation: Name
    thresholds: Str
    bank: Str

    def inputs(self) -> dict[str, Input]:
        model = plain(self.model)
        expect = {"calibrate.model": model, "calibrate.calibration": plain(self.calibration)}
        return {
            "thresholds": Input(Path(self.thresholds), "calibrate", expect),
            "bank": Input(Path(self.bank), "fit_hg", {"fit_hg.model": model}),
        }


def run(cfg: ConvertConfig, ctx: StageContext) -> StageResult:
    """Write the converted-model folder."""
    thresholds = ctx.inputs["thresholds"]
    identity = ctx.identity(thresholds.model_id, thresholds.revision)
    labels = {
        "calibration": cfg.calibration.name,
        "ablation": cfg.ablation,
        "thresholds_hash": thresholds.config_hash,
        "bank_hash": ctx.inputs["bank"].config_hash,
    }
    files = write_converted(
        ctx.work,
        cfg.model,
        cfg.conversion,
        labels,
        identity,
        Path(cfg.thresholds),
        Path(cfg.bank),
    )
    fields = {"model_id": identity.model_id, "revision": identity.revision, "method": "las"}
    return StageResult(fields | labels | plain(cfg.conversion), files=files)


main = entry_point(ConvertConfig, run)

if __name__ == "__main__":
    main()
