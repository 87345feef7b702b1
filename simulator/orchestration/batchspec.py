"""Batch specs: the TOML file of a batch, validated, and its members expanded.

A batch spec (TOML)::

    schema_version = 1
    [batch]
    name = "scenarios"         # default: the file's stem
    retries = 2                # re-runs of a task that raised an unexpected error

    [[runs]]                   # one member
    name = "base"
    config = "."               # run directory or its TOML, relative to this file
    seed = 7                   # optional: n_draws, mc_tolerance too
    set = { "deforestation.effectiveness" = { alpha = 10, beta = 5 } }

    [[sweeps]]                 # cartesian product of the values: members eff-00, eff-01, ...
    name = "eff"
    config = "."
    over = { "deforestation.effectiveness.alpha" = [8, 14], seed = [1, 2] }

    [huge]                     # optional: one run whose chunks are spread over the cluster
    config = "."
    n_draws = 100_000_000
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulator.config import RunSpec, load_config, read_toml, validate_config
from simulator.config.messages import describe_errors, dotted_location
from simulator.errors import ConfigError

__all__ = [
    "RunEntry",
    "SweepEntry",
    "HugeEntry",
    "BatchSettings",
    "BatchFile",
    "Member",
    "BatchSpec",
    "load_batch",
]

#: Simulation settings a member may set by name (the rest through dotted ``set`` keys).
_SHORTCUTS = {
    "seed": "simulation.seed",
    "n_draws": "simulation.n_draws",
    "mc_tolerance": "simulation.mc_tolerance",
    "chunk_size": "simulation.chunk_size",
}


# --------------------------------------------------------------------------- the spec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


class _MemberFields(_Strict):
    config: Annotated[Path, Field(description="run directory or TOML, relative to the batch file")]
    seed: Annotated[int | None, Field(ge=0, lt=2**63)] = None
    n_draws: Annotated[int | None, Field(ge=100, le=10**10)] = None
    mc_tolerance: Annotated[float | None, Field(gt=0, lt=1)] = None
    overrides: Annotated[
        dict[str, Any], Field(alias="set", description="dotted run.toml keys and their values")
    ] = {}


class RunEntry(_MemberFields):
    """``[[runs]]``: one member."""

    name: Name


class SweepEntry(_MemberFields):
    """``[[sweeps]]``: one member per combination of the ``over`` values."""

    name: Name
    over: Annotated[dict[str, Annotated[list[Any], Field(min_length=1)]], Field(min_length=1)]


class HugeEntry(_MemberFields):
    """``[huge]``: one run whose draws are split into chunks across the cluster."""

    name: Name = "huge"
    chunk_size: Annotated[int | None, Field(ge=1)] = None


class BatchSettings(_Strict):
    name: Name | None = None
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    max_in_flight: Annotated[int | None, Field(ge=1, le=10_000)] = None


class BatchFile(_Strict):
    """The whole batch TOML."""

    schema_version: Literal[1]
    batch: BatchSettings = BatchSettings()
    runs: list[RunEntry] = []
    sweeps: list[SweepEntry] = []
    huge: HugeEntry | None = None

    @model_validator(mode="after")
    def _some_member(self):
        if not (self.runs or self.sweeps or self.huge):
            raise ValueError("a batch needs [[runs]], [[sweeps]] or [huge]")
        return self


@dataclass(frozen=True)
class Member:
    """One run of a batch: its name, validated spec and the overrides that made it."""

    name: str
    spec: RunSpec
    overrides: dict[str, Any]
    huge: bool = False

    @property
    def digest(self) -> str:
        return self.spec.config.digest()


@dataclass(frozen=True)
class BatchSpec:
    """A validated batch: settings and members in file order (runs, sweeps, huge)."""

    path: Path
    name: str
    retries: int
    max_in_flight: int | None
    members: list[Member]


def load_batch(path: str | Path) -> BatchSpec:
    """Read and validate a batch spec and every member's configuration.

    Raises
    ------
    ConfigError
        One line naming the file, the field and the value.
    """
    path = Path(path)
    raw = read_toml(path, "batch spec")
    try:
        spec = BatchFile.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{path}: {describe_errors(err, BatchFile, dotted_location)}") from err
    members: list[Member] = []
    for i, entry in enumerate(spec.runs):
        members.append(_member(path, f"[runs][{i}]", entry.name, entry, {}))
    for i, entry in enumerate(spec.sweeps):
        keys = list(entry.over)
        for j, values in enumerate(itertools.product(*(entry.over[k] for k in keys))):
            name = f"{entry.name}-{j:02d}"
            members.append(
                _member(path, f"[sweeps][{i}]", name, entry, dict(zip(keys, values, strict=True)))
            )
    if spec.huge is not None:
        members.append(_member(path, "[huge]", spec.huge.name, spec.huge, {}, huge=True))
    names = [m.name for m in members]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: member names must be unique, repeated: {', '.join(dupes)}")
    return BatchSpec(
        path, spec.batch.name or path.stem, spec.batch.retries, spec.batch.max_in_flight, members
    )


def _member(
    batch_path: Path, where: str, name: str, entry, extra: dict, huge: bool = False
) -> Member:
    origin = f"{batch_path} {where} {name!r}"
    try:
        base = load_config(batch_path.parent / entry.config)
    except ConfigError as err:
        raise ConfigError(f"{origin}.config: {err}") from err
    settings = {k: getattr(entry, k, None) for k in _SHORTCUTS}
    overrides = {
        **{_SHORTCUTS[k]: v for k, v in settings.items() if v is not None},
        **entry.overrides,
        **{_SHORTCUTS.get(k, k): v for k, v in extra.items()},
    }
    raw = base.config.model_dump(mode="json")
    for key, value in overrides.items():
        _assign(raw, key, value, f"{origin}: {key!r}")
    if "accounting.buffer_pct" in overrides and not any(
        k.startswith("accounting.risk") for k in overrides
    ):
        # a member that states its rating replaces the base's risk scores, which give theirs
        raw["accounting"]["risk"] = None
    try:
        config = validate_config(raw, base.path)
    except ConfigError as err:
        raise ConfigError(f"{origin}: {err}") from err
    return Member(name, RunSpec(config, base.path), overrides, huge)


def _assign(raw: dict, dotted: str, value: Any, where: str) -> None:
    """Set ``raw[a][b][c] = value`` for ``"a.b.c"``; every key must already exist."""
    parts = dotted.split(".")
    if parts[0] == "data":
        raise ConfigError(
            f"{where}: [data] files cannot be overridden in a batch (make a run directory)"
        )
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{where}: {part!r} is not an index of a {len(node)}-item list")
            key: Any = int(part)
        elif isinstance(node, dict) and part in node:
            key = part
        else:
            known = list(node) if isinstance(node, dict) else []
            hint = difflib.get_close_matches(part, known, n=1)
            did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"{where}: no config field {part!r}{did_you_mean}")
        if last:
            node[key] = value
        else:
            node = node[key]
