"""Stage ``fit_hg``: fit the HG neuron bank and write its error tables (``python -m las.fit_hg``).

Ranges come from the collected statistics (``stats``), or from the ``hg`` group when
``stats=null``. Outputs in ``output_dir``: ``hg_bank.safetensors``, ``hg_errors.csv`` (dense
grid over each range), ``hg_sample_errors.csv`` (on collected activations; without statistics it
has no rows) and ``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path

from las.calibration.ranges import hg_ranges
from las.calibration.store import load_stats
from las.config import Str, plain, typed
from las.hg_bank import HGConfig, fit_bank, sample_errors, save_bank
from las.models import ModelSpec
from las.stage import Input, StageConfig, StageContext, StageResult, entry_point


@typed
class FitHGConfig(StageConfig, stage="fit_hg", paths=("stats",)):
    """``conf/fit_hg.yaml``: the fitting settings and the statistics giving the ranges."""

    model: ModelSpec
    hg: HGConfig
    stats: Str | None

    def inputs(self) -> dict[str, Input]:
        if self.stats is None:
            return {}
        return {"stats": Input(Path(self.stats), "collect", {"collect.model": plain(self.model)})}


def run(cfg: FitHGConfig, ctx: StageContext) -> StageResult:
    """Fit the bank as configured."""
    if cfg.stats is None:
        specs, samples, model_id, revision = cfg.hg.functions, {}, "none", "none"
    else:
        collected = load_stats(Path(cfg.stats))
        specs, samples = hg_ranges(collected.stats, collected.roles), collected.samples
        model_id, revision = collected.identity.model_id, collected.identity.revision
    neurons, table = fit_bank(specs, cfg.hg.K, cfg.hg.tolerance, cfg.hg.max_segments)
    save_bank(neurons, ctx.work / "hg_bank.safetensors", ctx.identity(model_id, revision))
    on_samples = sample_errors(neurons, samples)
    fields = {
        "model_id": model_id,
        "all_met": bool(table["met"].all()),
        "functions": table.to_dict(orient="records"),
        "on_samples": on_samples.to_dict(orient="records"),
    }
    tables = {"hg_errors": table, "hg_sample_errors": on_samples}
    files = ["hg_bank.safetensors", "hg_errors.csv", "hg_sample_errors.csv"]
    return StageResult(fields, tables, files)


main = entry_point(FitHGConfig, run)

if __name__ == "__main__":
    main()
