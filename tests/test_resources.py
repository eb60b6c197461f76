"""Cluster resources per rule (workflow/resources.yaml), computed from the model's size."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_workflow import ROOT, copy_workflow, snakemake

#: A job's block in Snakemake's dry-run output: its rule, wildcards and resources (other lines,
#: such as a rule's priority, may stand between them).
JOB = re.compile(
    r"rule (\w+):\n(?:    (?!wildcards:|resources:).*\n)*(?:    wildcards: (.*)\n)?"
    r"(?:    (?!resources:).*\n)*?"
    r"    resources: (.*)"
)


def planned(work: Path, config: str) -> dict[tuple[str, str], dict[str, str]]:
    """Resources of every planned job, by (rule, model) (model '' for rules without one)."""
    done = snakemake(work, "-n", config=config)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    jobs = {}
    for rule, wildcards, resources in JOB.findall(done.stdout):
        model = dict(re.findall(r"(\w+)=([^,\s]+)", wildcards)).get("model", "")
        jobs[rule, model] = dict(re.findall(r"(\w+)=([^,\s]+)", resources))
    return jobs


def test_resources_grow_with_the_model(tmp_path):
    jobs = planned(copy_workflow(tmp_path), "conf/pipeline/paper.yaml")
    # P = 1.3 (the id names it), W = 5.2 GB in float32: the formulas of workflow/resources.yaml.
    asked = jobs["collect", "opt_1_3b"]
    keys = ("mem_mb", "runtime", "cpus_per_task", "gpu")
    assert tuple(asked[k] for k in keys) == ("16180", "38", "16", "1")
    small, large = jobs["collect", "gpt2"], jobs["collect", "opt_66b"]
    assert small["gpu"] == "0" and int(small["cpus_per_task"]) < 16
    assert int(large["gpu"]) > 1 and int(large["mem_mb"]) > 20 * int(small["mem_mb"])
    assert int(large["runtime"]) > int(small["runtime"])
    finetune = jobs["finetune_qcfs", "opt_1_3b"]
    assert int(finetune["mem_mb"]) > int(jobs["collect", "opt_1_3b"]["mem_mb"])
    assert (jobs["tables", ""]["gpu"], jobs["tables", ""]["cpus_per_task"]) == ("0", "1")


def test_every_configured_model_is_sized(tmp_path):
    """A model in conf/model/ whose size is unknown would stop the DAG: none is."""
    names = sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml"))
    work = copy_workflow(tmp_path)
    (work / "all.yaml").write_text(
        (work / "conf/pipeline/slurm.yaml").read_text().replace("[minilm_l6]", str(names))
    )
    jobs = planned(work, "all.yaml")
    assert {m for rule, m in jobs if rule == "collect"} == set(names)
    assert all(int(jobs["evaluate", m]["mem_mb"]) >= 8192 for m in names)


def test_larger_models_chains_start_first(tmp_path):
    """Of two ready jobs of one tier the larger model's has the higher priority (its chain to
    evaluate_tasks is the longest); download, the chain's head, is in that tier."""
    done = snakemake(copy_workflow(tmp_path), "-n", config="conf/pipeline/embedded_full.yaml")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    priority = {}
    for block in done.stdout.split("\n\n"):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.MULTILINE)
        model = re.search(r"wildcards: .*\bmodel=([^,\s]+)", block)
        if rule and model:
            level = re.search(r"priority: ([\d.]+)", block)
            priority[rule[1], model[1]] = float(level[1]) if level else 0.0
    by_size = ["minilm_l6", "smollm2_135m", "gemma3_270m", "qwen25_coder_05b"]
    for rule in ("download", "collect", "convert", "evaluate_tasks"):
        levels = [priority[rule, m] for m in by_size if (rule, m) in priority]
        assert len(levels) >= 3 and levels == sorted(levels) and len(set(levels)) == len(levels)
        assert all(2 <= level < 3 for level in levels)
    assert priority["evaluate", "qwen25_coder_05b"] < priority["collect", "minilm_l6"]
