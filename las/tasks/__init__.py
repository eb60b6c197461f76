"""lm-eval task YAMLs of the embedded default (offline data); :data:`TASKS_DIR` is their folder."""

from pathlib import Path

#: Pass as ``TaskManager(include_path=TASKS_DIR, include_defaults=False)``.
TASKS_DIR = Path(__file__).resolve().parent
