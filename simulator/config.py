"""Run configuration: the ``run.toml`` schema, validated at load time.

A run directory holds ``run.toml`` and the data files it names (paths relative to
the run directory). :func:`load_config` reads and validates everything the file
says and reports *all* problems at once, each with the file, the field's
location (``[accounting].buffer_pct``) and the bad value, with a "did you mean"
for misspelt keys.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulator.errors import ConfigError
from simulator.standards import STANDARDS

__all__ = [
    "SCHEMA_VERSION",
    "NormalPrior",
    "BoundedNormalPrior",
    "BetaPrior",
    "EffectivenessPrior",
    "Stratum",
    "Project",
    "Crediting",
    "DataFiles",
    "Biomass",
    "Allocation",
    "Deforestation",
    "Leakage",
    "Sampler",
    "Simulation",
    "Accounting",
    "Sensitivity",
    "RunConfig",
    "RunSpec",
    "load_config",
    "read_toml",
    "validate_config",
]

SCHEMA_VERSION = 1
CONFIG_NAME = "run.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NormalPrior(_Section):
    """Normal prior (or known value with uncertainty): mean and standard deviation."""

    mean: float
    sd: Annotated[float, Field(gt=0)]


class BoundedNormalPrior(NormalPrior):
    """Normal prior truncated to ``[lower, upper]``."""

    lower: float
    upper: float

    @model_validator(mode="after")
    def _ordered(self):
        if not self.lower < self.mean < self.upper:
            raise ValueError(
                f"need lower < mean < upper, got {self.lower}, {self.mean}, {self.upper}"
            )
        return self


class BetaPrior(_Section):
    """Beta(alpha, beta) prior of a fraction."""

    alpha: Annotated[float, Field(gt=0)]
    beta: Annotated[float, Field(gt=0)]


class EffectivenessPrior(BetaPrior):
    """Beta(alpha, beta) prior scaled to ``[lower, 1]``: ``e = lower + (1 - lower) B``.

    ``lower < 0`` allows a project that does not reduce (or increases) deforestation.
    """

    lower: Annotated[float, Field(ge=-5, lt=1, description="smallest possible effectiveness")] = 0.0


class Stratum(_Section):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")]
    area_ha: Annotated[
        float, Field(gt=0, le=1e9, description="forest area at the project start (ha)")
    ]
    relative_risk: Annotated[
        float,
        Field(
            gt=0,
            description="relative deforestation risk; rescaled to an area-weighted mean of 1",
        ),
    ] = 1.0


class Project(_Section):
    name: Annotated[str, Field(min_length=1)]
    country: str = ""
    description: str = ""
    strata: Annotated[list[Stratum], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_strata(self):
        names = [s.name for s in self.strata]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stratum names must be unique, repeated: {', '.join(dupes)}")
        return self


class Crediting(_Section):
    start_year: Annotated[int, Field(ge=1990, le=2100)]
    years: Annotated[int, Field(ge=1, le=100)]


class DataFiles(_Section):
    """CSV files, relative to the run directory.

    The reference region's annual loss comes either from ``deforestation`` (a series
    already estimated: loss and its SE per year) or from a map and its accuracy
    sample (``map_areas`` + ``accuracy_sample``), estimated by the stratified
    estimator. Biomass comes either from a tree inventory (``plots`` + ``trees``)
    or from carbon stocks per stratum and pool already estimated, with their
    uncertainty (``carbon_stocks``, e.g. imported from a mocaredd workbook).
    """

    plots: Path | None = None
    trees: Path | None = None
    carbon_stocks: Path | None = None
    leakage_belt: Path
    deforestation: Path | None = None
    map_areas: Path | None = None
    accuracy_sample: Path | None = None
    project_monitoring: Path | None = None  # monitored loss inside the project (optional)
    allow_outside_run_dir: bool = False  # data files outside the run directory

    @model_validator(mode="after")
    def _one_biomass_source(self):
        inventory = (self.plots is not None, self.trees is not None)
        if self.carbon_stocks is not None and any(inventory):
            raise ValueError("give either plots + trees or carbon_stocks, not both")
        if self.carbon_stocks is None and not all(inventory):
            raise ValueError("biomass needs plots and trees, or carbon_stocks")
        return self

    @model_validator(mode="after")
    def _one_loss_source(self):
        maps = (self.map_areas is not None, self.accuracy_sample is not None)
        if self.deforestation is not None and any(maps):
            raise ValueError("give either deforestation or map_areas + accuracy_sample, not both")
        if self.deforestation is None and not all(maps):
            raise ValueError(
                "the annual loss needs deforestation, or both map_areas and accuracy_sample"
            )
        return self

    def files(self) -> dict[str, Path]:
        """The configured files by name."""
        return {k: v for k, v in self if isinstance(v, Path)}


class Biomass(_Section):
    carbon_fraction: NormalPrior = NormalPrior(mean=0.47, sd=0.0206)
    root_shoot: BoundedNormalPrior = BoundedNormalPrior(mean=0.37, sd=0.04, lower=0.27, upper=0.44)
    n_monte_carlo: Annotated[
        int, Field(ge=50, le=100_000, description="tree-level Monte Carlo iterations per plot")
    ] = 1000
    genus_wood_density_sd: Annotated[
        float, Field(ge=0, le=0.5, description="SD (g/cm3) of a genus-mean wood density")
    ] = 0.185
    measured_wood_density_sd: Annotated[float, Field(ge=0, le=0.5)] = 0.0
    measured_height_sd_m: Annotated[float, Field(ge=0, le=20)] = 0.0


class Allocation(_Section):
    """Allocated baseline (VM0048 shape): jurisdiction projected loss x the project share."""

    jurisdiction_loss_ha: Annotated[
        NormalPrior, Field(description="projected annual loss of the jurisdiction (ha/yr)")
    ]
    risk_share: Annotated[
        BetaPrior, Field(description="the project's share of the jurisdiction's deforestation risk")
    ]


class Deforestation(_Section):
    baseline: Literal["reference_region", "allocated"] = "reference_region"
    allocation: Allocation | None = None
    highway_paving: Annotated[
        tuple[int, int], Field(description="first and last year of highway paving")
    ]
    projection: Literal["constant", "trend"] = "constant"
    noise: Annotated[
        Literal["iid", "ar1"],
        Field(description="process noise of the log hazard: independent years or AR(1)"),
    ] = "iid"
    effectiveness: EffectivenessPrior
    post_conversion_tco2e_ha: NormalPrior

    @model_validator(mode="after")
    def _paving_order(self):
        first, last = self.highway_paving
        if last < first:
            raise ValueError(f"highway_paving must be [first, last], got [{first}, {last}]")
        if self.baseline == "allocated" and self.allocation is None:
            raise ValueError('baseline = "allocated" needs a [deforestation.allocation] table')
        return self


class Leakage(_Section):
    displacement: BetaPrior
    belt_baseline_cv: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="relative SD of the belt's counterfactual loss (0: taken as exact)",
        ),
    ] = 0.1


class Sampler(_Section):
    chains: Annotated[int, Field(ge=1, le=64)] = 4
    draws: Annotated[int, Field(ge=50)] = 1000
    tune: Annotated[int, Field(ge=50)] = 1000
    target_accept: Annotated[float, Field(gt=0.5, lt=1)] = 0.9
    allow_failed_diagnostics: bool = False


class Simulation(_Section):
    """Monte Carlo settings.

    ``chunk_size`` is the unit of work handed to a process or Dask worker (rounded up
    to whole blocks of 65,536 draws); results do not depend on it. With
    ``mc_tolerance`` the draw count is doubled (up to ``max_draws``) until the Monte
    Carlo standard error of every 90%/95% CI bound of NER is at most that fraction
    of the mean.
    """

    n_draws: Annotated[int, Field(ge=100, le=10**10)]
    seed: Annotated[int, Field(ge=0, lt=2**63)]
    chunk_size: Annotated[int, Field(ge=1)] = 1_048_576
    mc_tolerance: Annotated[float | None, Field(gt=0, lt=1)] = None
    max_draws: Annotated[int | None, Field(ge=100, le=10**10)] = None


class Accounting(_Section):
    standard: Annotated[str, Field(description="methodology and version, e.g. VM0007-1.8")]
    buffer_pct: Annotated[
        float, Field(description="non-permanence risk rating (%) from the AFOLU risk tool")
    ]

    @model_validator(mode="after")
    def _known_standard(self):
        if self.standard not in STANDARDS:
            raise ValueError(
                f"standard {self.standard!r} is not one of {', '.join(sorted(STANDARDS))}"
            )
        # VCS AFOLU Non-Permanence Risk Tool v4.0: the overall risk rating is at least 10;
        # a project scoring above 60 fails the tool and cannot be credited.
        if not 10 <= self.buffer_pct <= 60:
            raise ValueError(
                f"buffer_pct = {self.buffer_pct}: the AFOLU Non-Permanence Risk Tool "
                "allows ratings from 10 to 60"
            )
        return self


def _power_of_two(n: int) -> int:
    if n & (n - 1):
        raise ValueError(f"must be a power of 2 (Sobol' points), got {n}")
    return n


class Sensitivity(_Section):
    """Sobol indices and sampling-effort planning (``simulator.sensitivity``)."""

    enabled: bool = True
    base_samples: Annotated[
        int,
        AfterValidator(_power_of_two),
        Field(ge=64, le=2**20, description="Sobol base sample N; cost N (groups + 2)"),
    ] = 1024
    inner_draws: Annotated[
        int,
        AfterValidator(_power_of_two),
        Field(ge=256, le=2**20, description="Monte Carlo draws per uncertainty/planning case"),
    ] = 2048
    resamples: Annotated[int, Field(ge=10, le=10_000)] = 200
    index_confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    plots_added: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] = [
        0,
        5,
        10,
        20,
        50,
        100,
        200,
    ]
    points_added: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] = [
        0,
        50,
        100,
        200,
        500,
        1000,
    ]
    max_plots: Annotated[int, Field(ge=1, le=10**7)] = 100_000
    max_points: Annotated[int, Field(ge=1, le=10**7)] = 100_000


class RunConfig(_Section):
    """The whole ``run.toml``."""

    schema_version: Literal[1]
    project: Project
    crediting: Crediting
    data: DataFiles
    biomass: Biomass = Biomass()
    deforestation: Deforestation
    leakage: Leakage
    sampler: Sampler = Sampler()
    simulation: Simulation
    accounting: Accounting
    sensitivity: Sensitivity = Sensitivity()

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the validated configuration."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class RunSpec:
    """A validated configuration with the location it came from."""

    config: RunConfig
    path: Path

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    def data_path(self, name: str) -> Path:
        return self.run_dir / getattr(self.config.data, name)

    def with_overrides(
        self, n_draws: int | None = None, seed: int | None = None, mc_tolerance: float | None = None
    ) -> RunSpec:
        """Same spec with ``[simulation]`` settings replaced where given (re-validated)."""
        raw = self.config.model_dump(mode="json")
        given = {"n_draws": n_draws, "seed": seed, "mc_tolerance": mc_tolerance}
        raw["simulation"].update({k: v for k, v in given.items() if v is not None})
        return RunSpec(validate_config(raw, self.path, "command line"), self.path)


def read_toml(path: Path, what: str) -> dict:
    """Parse a TOML file; a missing or malformed file is a one-line :class:`ConfigError`."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err


def load_config(path: str | Path) -> RunSpec:
    """Read and validate a run configuration.

    Parameters
    ----------
    path : str or Path
        A run directory (holding ``run.toml``) or the TOML file itself.

    Returns
    -------
    RunSpec

    Raises
    ------
    ConfigError
        One line listing every problem: file, field location, value and reason.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_NAME
    spec = RunSpec(validate_config(read_toml(path, "run configuration"), path), path)
    problems = []
    root = spec.run_dir.resolve()
    for name, value in spec.config.data.files().items():
        target = spec.data_path(name)
        if not spec.config.data.allow_outside_run_dir and not target.resolve().is_relative_to(root):
            problems.append(
                f"[data].{name} = {str(value)!r}: outside the run directory "
                "(set [data].allow_outside_run_dir = true to allow it)"
            )
        elif not target.is_file():
            problems.append(f"[data].{name} = {str(value)!r}: file not found")
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return spec


def validate_config(raw: dict, path: Path, origin: str | None = None) -> RunConfig:
    """Validate a configuration dict (as read from ``path``), raising one-line ConfigError."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        where = f"{path} ({origin})" if origin else str(path)
        raise ConfigError(f"{where}: " + "; ".join(_describe(e) for e in err.errors())) from err


def _location(loc: tuple) -> str:
    """``('accounting', 'buffer_pct')`` -> ``[accounting].buffer_pct``."""
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in loc]
    text = ""
    for part in parts:
        text += part if part.startswith("[") or not text else "." + part
    if len(loc) > 1:
        head, _, tail = text.rpartition(".")
        return f"[{head}].{tail}" if head else text
    return text


def _describe(error: dict) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        known = _fields_at(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        return f"{_location(loc)}: unknown key{did_you_mean}"
    if error["type"] == "missing":
        return f"{_location(loc)}: required field is missing"
    msg = error["msg"].removeprefix("Value error, ")
    if not loc:
        return msg
    return f"{_location(loc)} = {error.get('input')!r}: {msg}"


def _fields_at(loc: tuple) -> list[str]:
    """Field names of the schema section at ``loc`` (for "did you mean")."""
    model: type[BaseModel] = RunConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *typing.get_args(annotation)]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if model is None:
            return []
    return list(model.model_fields)
