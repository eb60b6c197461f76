"""Typed configs: frozen dataclasses checked when built, with errors that name key, value and fix.

Every config object of the library and of the stages is declared with :func:`typed`: a frozen,
keyword-only pydantic dataclass that refuses unknown keys and does not coerce (``"no"`` is not a
bool, ``2.5`` is not an int, ``"16"`` is not a number). Scalar fields use the strict aliases
below; ranges are pydantic field constraints or ``__post_init__`` checks. :func:`build` turns a
composed Hydra config (or any mapping) into its typed config and raises :class:`ConfigError`
listing every bad key at once, before any compute.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Annotated, Any, TypeVar

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass

C = TypeVar("C")

Bool = StrictBool
Int = StrictInt
Float = StrictFloat
Str = StrictStr
PositiveInt = Annotated[StrictInt, Field(gt=0)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
PositiveFloat = Annotated[StrictFloat, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[StrictFloat, Field(gt=0, lt=1)]
Name = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.+-]+$")]


def typed(cls: type[C]) -> type[C]:
    """Declare ``cls`` a typed config: frozen, keyword-only, unknown keys refused, no coercion."""
    return pydantic_dataclass(frozen=True, kw_only=True, config=ConfigDict(extra="forbid"))(cls)


class ConfigError(ValueError):
    """A config that cannot be built: every offending key with its value and what is allowed."""


def _describe(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(config)"
    if error["type"] == "missing":
        return f"  {key}: missing (required key; set it in the config file or override {key}=...)"
    if error["type"] == "unexpected_keyword_argument":
        return f"  {key}: unknown key (got {error['input']!r}); remove it or fix its spelling"
    value = error.get("input")
    shown = f"{value!r} ({type(value).__name__})" if not isinstance(value, Mapping) else "it"
    message = error["msg"].removeprefix("Value error, ")
    return f"  {key}: got {shown}: {message}"


def config_error(err: ValidationError, what: str) -> ConfigError:
    """The :class:`ConfigError` of a pydantic ``err`` raised while building ``what``."""
    lines = "\n".join(_describe(e) for e in err.errors())
    return ConfigError(f"invalid {what}:\n{lines}")


def build(cls: type[C], data: Mapping[str, Any], what: str | None = None) -> C:
    """``cls`` built from ``data`` (nested mappings become nested configs).

    Raises :class:`ConfigError` naming every unknown, missing or ill-typed key of ``data``.
    """
    try:
        return TypeAdapter(cls).validate_python(dict(data))
    except ValidationError as err:
        raise config_error(err, what or f"{cls.__name__} config") from None


def checked(make: Callable[..., C], what: str, **kwargs: Any) -> C:
    """``make(**kwargs)``, with pydantic errors turned into :class:`ConfigError` about ``what``."""
    try:
        return make(**kwargs)
    except ValidationError as err:
        raise config_error(err, what) from None


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: configs become dicts, enums their values, tuples lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def config_hash(value: Any) -> str:
    """Stable 16-hex-digit SHA-256 of a config (typed or plain; keys sorted)."""
    return hashlib.sha256(json.dumps(plain(value), sort_keys=True).encode()).hexdigest()[:16]


def first_difference(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The keys where two plain configs differ, as ``key: old -> new`` lines (sorted)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        lines = []
        for key in sorted(set(old) | set(new)):
            lines += first_difference(old.get(key), new.get(key), f"{prefix}{key}.")
        return lines
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]
