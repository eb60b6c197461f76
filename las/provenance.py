"""What every stage records beside its results: git commit, package versions and the platform."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "transformers", "lm_eval", "hydra-core", "snakemake", "las")


def git_commit() -> str | None:
    """The checkout's HEAD commit, or None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def platform_record() -> dict[str, Any]:
    """Where the numbers were computed: float results differ in the last bits between CPUs
    (different matmul kernels), and a spiking model's codes can flip at a threshold there, so a
    rerun elsewhere matches to that precision, not bit for bit. ``cpu_capability`` and
    ``threads`` are torch's (None in a process that never imported torch)."""
    torch = sys.modules.get("torch")
    return {
        "machine": platform.machine(),
        "cpu": cpu_name(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability() if torch else None,
        "threads": torch.get_num_threads() if torch else None,
    }


def provenance() -> dict[str, Any]:
    """Git commit, installed versions of the packages results depend on, the platform."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"git_commit": git_commit(), "versions": versions, "platform": platform_record()}
