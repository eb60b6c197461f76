"""record_stage: the local record always, its W&B mirror offline, never online in tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
import wandb
from hydra import compose, initialize_config_dir

from las.tracking import TrackingConfig, TrackingMode, record_stage
from tests.wandb_recorded import isolate_wandb

CONF = str(Path(__file__).resolve().parent.parent / "conf")
STAGES = ("download", "collect", "calibrate", "fit_hg", "evaluate")
DIGEST = "0123456789abcdef"


@pytest.fixture(autouse=True)
def _wandb_home(tmp_path, monkeypatch):
    isolate_wandb(tmp_path, monkeypatch)


def stage_config(root: Path, mode: str = "offline", **tracking) -> dict:
    return {
        "experiment": "exp",
        "model": {"name": "tiny_llama"},
        "tracking": {"project": "las", "entity": None, "mode": mode, "dir": str(root)} | tracking,
    }


def record(out: Path, cfg: dict) -> dict:
    table = pd.DataFrame({"site": ["a", "b"], "theta": [0.5, 1.5]})
    (out / "sites.csv").write_text(table.to_csv(index=False))
    fields = {"sites": 2, "max_error": 0.25, "functions": [{"name": "exp", "met": True}]}
    tracking = TrackingConfig(**cfg["tracking"])
    path = record_stage(
        out, "collect", cfg, tracking, DIGEST, fields, {"sites": table}, [out / "sites.csv"]
    )
    assert path == out / "metrics.json"
    return json.loads(path.read_text())


def test_offline_mode_writes_an_offline_run_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    written = record(tmp_path, stage_config(tmp_path))
    assert written["stage"] == "collect" and written["config_hash"] == DIGEST
    assert written["sites"] == 2 and written["functions"] == [{"name": "exp", "met": True}]
    assert written["config"]["experiment"] == "exp" and "torch" in written["versions"]
    assert written["platform"]["cpu"] and written["platform"]["machine"]
    run = written["wandb"]
    assert run["mode"] == "offline" and run["project"] == "las" and run["group"] == "exp"
    folder = Path(run["dir"])
    assert folder.parent == tmp_path / "wandb" and folder.name.startswith("offline-run-")
    assert (folder / f"run-{run['id']}.wandb").stat().st_size > 0
    assert list((folder / "files" / "media" / "table" / "tables").glob("sites_*.table.json"))


def test_the_record_names_the_platform_its_numbers_came_from(tmp_path, monkeypatch):
    """Float results differ in the last bits between CPUs: the record says which one ran."""
    import torch

    monkeypatch.delenv("WANDB_MODE", raising=False)
    platform = record(tmp_path, stage_config(tmp_path, mode="disabled"))["platform"]
    assert platform["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert platform["threads"] == torch.get_num_threads()
    assert platform["cpu"] and platform["machine"]


def test_a_record_of_many_fields_mirrors_whole_within_wandbs_metadata_limit(tmp_path, monkeypatch):
    """A task table flattens to hundreds of fields; W&B refuses artifacts with more than 100
    top-level metadata keys (the first full pipeline run lost a finished job to it)."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    made = []

    class Recorded(wandb.Artifact):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self.metadata)

    monkeypatch.setattr(wandb, "Artifact", Recorded)
    fields = {f"task{i}/acc": i / 1000 for i in range(250)}
    cfg = stage_config(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record_stage(
            tmp_path, "evaluate_tasks", cfg, TrackingConfig(**cfg["tracking"]), DIGEST, fields
        )
    (metadata,) = made
    assert metadata["config_hash"] == DIGEST and len(metadata) <= 100
    assert metadata["summary"] == fields


def test_a_failed_mirror_warns_and_keeps_the_local_record(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)

    def refuse(*args, **kwargs):
        raise ValueError("Artifact must not have more than 100 metadata keys.")

    monkeypatch.setattr(wandb.sdk.wandb_run.Run, "log_artifact", refuse)
    with pytest.warns(UserWarning, match="mirror of stage 'collect' failed .*100 metadata"):
        written = record(tmp_path, stage_config(tmp_path))
    assert written["sites"] == 2 and written["wandb"]["mode"] == "offline"


NO_LOOKUPS = """
import socket, sys
from pathlib import Path

def refuse(host, *args, **kwargs):
    print("LOOKUP", host, flush=True)
    raise OSError("no network here")

socket.getaddrinfo = refuse
from las.tracking import TrackingConfig, record_stage

import pandas as pd

root = Path(sys.argv[1])
cfg = {"experiment": "exp", "model": {"name": "m"}, "tracking": {"dir": str(root)}}
table = pd.DataFrame({"site": ["a"], "theta": [0.5]})
(root / "sites.csv").write_text(table.to_csv(index=False))
record_stage(
    root, "collect", cfg, TrackingConfig(dir=str(root)), "0123456789abcdef", {"n": 1},
    {"sites": table}, [root / "sites.csv"],
)
print("LAUNCH" if "wandb.sdk.launch" in sys.modules else "no launch", flush=True)
"""


def test_offline_mode_never_looks_up_a_host(tmp_path):
    """In a fresh process, to the end of it: W&B's exit handlers included. The run's init
    leaves out W&B Launch (3 to 4 s per stage process; a stage is never a Launch job)."""
    env = {k: v for k, v in os.environ.items() if k != "WANDB_MODE"}
    done = subprocess.run(
        [sys.executable, "-c", NO_LOOKUPS, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "LOOKUP" not in done.stdout, done.stdout
    assert "no launch" in done.stdout, done.stdout
    assert json.loads((tmp_path / "metrics.json").read_text())["wandb"]["mode"] == "offline"


@pytest.mark.parametrize(("env", "configured"), [("disabled", "offline"), (None, "disabled")])
def test_disabled_mode_writes_the_local_record_only(tmp_path, monkeypatch, env, configured):
    if env is None:
        monkeypatch.delenv("WANDB_MODE", raising=False)
    else:
        monkeypatch.setenv("WANDB_MODE", env)
    written = record(tmp_path, stage_config(tmp_path, configured))
    assert written["wandb"] is None and written["sites"] == 2
    assert not (tmp_path / "wandb").exists()


def test_a_run_that_cannot_start_leaves_the_local_record(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")

    def refuse(**_):
        raise wandb.errors.AuthenticationError("api_key not configured")

    monkeypatch.setattr(wandb, "init", refuse)
    with pytest.warns(UserWarning, match="not started .*api_key"):
        written = record(tmp_path, stage_config(tmp_path))
    assert written["wandb"] is None and written["max_error"] == 0.25


def test_wandb_mode_overrides_the_configured_mode(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    assert TrackingConfig(mode="disabled").effective_mode() is TrackingMode.ONLINE
    monkeypatch.delenv("WANDB_MODE")
    assert TrackingConfig().effective_mode() is TrackingMode.OFFLINE
    with pytest.raises(ValueError, match="valid: online, offline, disabled"):
        TrackingConfig(mode="dryrun")
    monkeypatch.setenv("WANDB_MODE", "onlin")
    with pytest.raises(ValueError, match="WANDB_MODE: unknown tracking mode 'onlin'"):
        TrackingConfig()


def test_online_without_a_server_falls_back_to_offline_within_the_timeout(tmp_path, monkeypatch):
    """A W&B server that accepts connections and never answers: no stall, an offline run."""
    import socket
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
    monkeypatch.setenv("WANDB_API_KEY", "0123456789abcdef" * 2 + "01234567")
    wandb.teardown()  # W&B keeps process-wide settings: start from the environment above
    start = time.monotonic()
    with pytest.warns(
        UserWarning, match=r"(?s)online run .* not started .*127\.0\.0\.1.*an offline run instead"
    ):
        written = record(tmp_path, stage_config(tmp_path, init_timeout_s=3.0))
    elapsed = time.monotonic() - start
    server.close()
    assert written["wandb"]["mode"] == "offline" and written["sites"] == 2
    assert elapsed < 60, f"W&B stalled the stage {elapsed:.0f} s"


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("choice", ["offline", "online", "disabled"])
def test_stage_configs_compose_with_each_tracking_option(stage, choice):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name=stage, overrides=[f"tracking={choice}", "experiment=paper"])
    assert TrackingConfig(**cfg.tracking).mode is TrackingMode(choice)
    assert cfg.tracking.project == "las" and cfg.output_dir.startswith("results/paper/")
