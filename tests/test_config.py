"""Typed configs: every config file composes into its stage's typed config; bad values refused."""

from __future__ import annotations

from dataclasses import fields

import pytest
import yaml

from las.config import ConfigError, plain
from las.conversion.config import ConversionConfig
from las.energy import EnergyConfig
from las.stage import CONF_DIR, load_config
from las.tracking import TrackingConfig
from tests.stage_chain import CONFIG_CLASSES, compose_stage, config_class

GROUP_OPTIONS = {
    group.name: sorted(p.stem for p in group.glob("*.yaml"))
    for group in sorted(CONF_DIR.iterdir())
    if group.is_dir() and group.name != "pipeline"
}


def stage_groups(stage: str) -> list[str]:
    """The config groups ``conf/<stage>.yaml`` selects in its defaults list."""
    defaults = yaml.safe_load((CONF_DIR / f"{stage}.yaml").read_text())["defaults"]
    return [next(iter(d)) for d in defaults if isinstance(d, dict)]


CASES = [
    (stage, group, option)
    for stage in CONFIG_CLASSES
    for group in stage_groups(stage)
    for option in GROUP_OPTIONS[group]
]


#: Stages for models of one task only: the task and the refusal of the others.
ONE_TASK = {
    "evaluate_tasks": ("causal_lm", "of causal LMs"),
    "finetune_qcfs": ("causal_lm", "of causal LMs"),
    "evaluate_probe": ("encoder", "with encoders"),
    "evaluate_vlm_tasks": ("vision_language", "scores vision-language models"),
}


@pytest.mark.parametrize(("stage", "group", "option"), CASES)
def test_every_config_file_builds_its_stages_typed_config(stage, group, option, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    composed = compose_stage(stage, f"{group}={option}")
    if stage in ONE_TASK and composed.model.task != ONE_TASK[stage][0]:
        with pytest.raises(ConfigError, match=ONE_TASK[stage][1]):
            load_config(config_class(stage), composed)
        return
    if stage == "evaluate_vlm_tasks" and composed.method.name == "fas":
        with pytest.raises(ConfigError, match="method=fas needs the finetune_qcfs"):
            load_config(config_class(stage), composed)
        return
    if stage == "evaluate_vlm_tasks" and composed.task.get("harness") == "lmms_eval":
        with pytest.raises(ConfigError, match="lmms-eval's llava_hf generates one item"):
            load_config(config_class(stage), composed)  # the default batch_size is 4
        composed.batch_size = 1
    if stage == "evaluate_glue" and composed.model.task != "sequence_classification":
        with pytest.raises(ConfigError, match="fine-tuned classifier"):
            load_config(config_class(stage), composed)
        return
    assert stage == load_config(config_class(stage), composed).STAGE


def test_every_group_option_is_covered_and_every_stage_has_its_four_places():
    covered = {(g, o) for _, g, o in CASES}
    assert covered == {(g, o) for g, opts in GROUP_OPTIONS.items() for o in opts}
    root = CONF_DIR.parent
    for stage in CONFIG_CLASSES:
        for path in (f"las/{stage}.py", f"conf/{stage}.yaml", f"workflow/rules/{stage}.smk"):
            assert (root / path).is_file(), path
        assert (root / "tests" / f"test_{stage}.py").is_file(), stage


@pytest.mark.parametrize(
    ("path", "cls"),
    [
        ("conversion/default.yaml", ConversionConfig),
        ("energy/default.yaml", EnergyConfig),
        ("tracking/offline.yaml", TrackingConfig),
    ],
)
def test_default_group_files_equal_the_library_defaults(path, cls, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    values = yaml.safe_load((CONF_DIR / path).read_text())
    assert values == plain(cls())
    assert set(values) == {f.name for f in fields(cls)}


BAD = [
    (
        "collect",
        "conversion.oat=no",
        r"conversion\.oat: got 'no' \(str\): Input should be a valid boolean",
    ),
    (
        "calibrate",
        "conversion.T=0",
        r"conversion\.T: got 0 \(int\): Input should be greater than or equal to 1",
    ),
    (
        "calibrate",
        "conversion.T=2.5",
        r"conversion\.T: got 2\.5 \(float\): Input should be a valid integer",
    ),
    (
        "calibrate",
        "conversion.T=64",
        r"conversion\.T: got 64 \(int\): Input should be less than or equal to 29",
    ),
    ("calibrate", "+conversion.Tee=8", r"conversion\.Tee: unknown key"),
    (
        "convert",
        "conversion.code=ternary",
        r"conversion\.code: got 'ternary' \(str\): .*'binary' or 'naf'",
    ),
    ("calibrate", "calibration.q=1.5", r"calibration\.q: got 1\.5"),
    ("evaluate", "data.seq_len='128'", r"data\.seq_len: got '128' \(str\)"),
    ("evaluate_tasks", "task.limit=0", r"task\.limit: got 0"),
    ("evaluate_tasks", "model=minilm_l6", "scores log-likelihoods of causal LMs"),
    (
        "collect",
        "model.id=opt-66b",
        "unknown embedded model 'opt-66b'; known: gemma3-270m, minilm-l6-v2",
    ),
    ("evaluate_vqa", "vlm=vit", r"vlm: got 'vit' \(str\): Input should be 'llava' or 'qwen2_vl'"),
]


@pytest.mark.parametrize(("stage", "override", "message"), BAD)
def test_bad_values_are_refused_with_key_value_and_rule(stage, override, message, tmp_path):
    """Failure 4: nothing is coerced; the error names the key and the value; nothing is written."""
    out = tmp_path / "out"
    cfg = compose_stage(stage, override, f"output_dir={out}")
    with pytest.raises(ConfigError, match=message):
        load_config(config_class(stage), cfg)
    assert not out.exists()


def test_a_missing_key_is_named(tmp_path):
    cfg = compose_stage("calibrate", "~stats", f"output_dir={tmp_path}")
    with pytest.raises(ConfigError, match=r"stats: missing"):
        load_config(config_class("calibrate"), cfg)


def test_pipeline_configs_pass_the_schema():
    from snakemake.utils import validate

    schema = str(CONF_DIR.parent / "workflow" / "schemas" / "config.schema.yaml")
    for path in sorted((CONF_DIR / "pipeline").glob("*.yaml")):
        validate(yaml.safe_load(path.read_text()), schema)
    partial = yaml.safe_load((CONF_DIR / "pipeline" / "reduced.yaml").read_text())
    del partial["experiment"]
    with pytest.raises(Exception, match="'experiment' is a required property"):
        validate(partial, schema)
