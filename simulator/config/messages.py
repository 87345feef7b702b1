"""One-line messages for validation errors of a TOML file against a pydantic schema.

Every configuration file (``run.toml``, a batch spec) is validated by pydantic and
reported the same way: each problem as ``location = value: reason``, an unknown
key with a "did you mean" from the schema's own field names, all problems of the
file joined on one line.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Callable

from pydantic import BaseModel, ValidationError

__all__ = ["toml_location", "dotted_location", "describe_errors", "fields_at"]


def toml_location(loc: tuple) -> str:
    """``('accounting', 'buffer_pct')`` -> ``[accounting].buffer_pct``; a list index as ``[0]``."""
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in loc]
    text = ""
    for part in parts:
        text += part if part.startswith("[") or not text else "." + part
    if len(loc) > 1:
        head, _, tail = text.rpartition(".")
        return f"[{head}].{tail}" if head else text
    return text


def dotted_location(loc: tuple) -> str:
    """``('runs', 0, 'seed')`` -> ``runs.0.seed``."""
    return ".".join(str(p) for p in loc)


def fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names (aliases where set) of the schema section at ``loc``, for "did you mean"."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if current is not None else None
        if field is None:
            return []
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        for c in list(candidates):
            candidates += typing.get_args(c)  # list[X], Annotated[X, ...], X | None
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    if current is None:
        return []
    return [f.alias or name for name, f in current.model_fields.items()]


def _describe(error: dict, model: type[BaseModel], locate: Callable[[tuple], str]) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        hint = difflib.get_close_matches(str(loc[-1]), fields_at(model, loc[:-1]), n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        return f"{locate(loc)}: unknown key{did_you_mean}"
    if error["type"] == "missing":
        return f"{locate(loc)}: required field is missing"
    msg = error["msg"].removeprefix("Value error, ")
    if not loc:
        return msg
    return f"{locate(loc)} = {error.get('input')!r}: {msg}"


def describe_errors(
    err: ValidationError, model: type[BaseModel], locate: Callable[[tuple], str] = toml_location
) -> str:
    """All problems of a validation error on one line, ``"; "``-separated."""
    return "; ".join(_describe(e, model, locate) for e in err.errors())
