"""Package exports resolved on first use (PEP 562), so ``import las`` costs nothing it does not use.

A stage that never loads a model (``convert`` without an allocation, ``calibrate``, ``tables``)
must not pay for importing what the names of a package ``__init__`` pull in (transformers'
modeling code, matplotlib). The package lists each name with the module that defines it; its
``__getattr__`` imports that module when the name is first read and keeps the value.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, exporting each of ``names`` (name ->
    defining module) lazily."""

    def getattr_(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return getattr_, dir_
