# The pipeline's table of contents: each stage is one rule file calling `python -m las.<stage>`.
from snakemake.utils import min_version, validate

min_version("9.0")


# The embedded default unless a complete config is given (`--configfile`): never a merge of
# the two, so a config with keys left out is rejected by the schema instead of filled in.
if not config:

    configfile: "conf/pipeline/embedded.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/collect.smk"
include: "workflow/rules/calibrate.smk"
include: "workflow/rules/fit_hg.smk"
include: "workflow/rules/finetune_qcfs.smk"
include: "workflow/rules/calibrate_fas.smk"
include: "workflow/rules/convert.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/evaluate_tasks.smk"
include: "workflow/rules/evaluate_probe.smk"
include: "workflow/rules/evaluate_glue.smk"
include: "workflow/rules/evaluate_vqa.smk"
include: "workflow/rules/evaluate_vlm_tasks.smk"
include: "workflow/rules/raster.smk"
include: "workflow/rules/tables.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
