"""The ``run.toml`` schema: every section, validated at load time (pydantic).

A run directory holds ``run.toml`` and the data files it names (paths relative to
the run directory). The sections the Bayesian models read (priors, sampler) are
defined in :mod:`models.settings` and re-exported here; reading and validating a
file is :mod:`simulator.config.load`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_serializer, model_validator

from models.settings import (
    Allocation,
    BetaPrior,
    Biomass,
    BoundedNormalPrior,
    Deforestation,
    EffectivenessPrior,
    Leakage,
    NormalPrior,
    Sampler,
)
from models.settings import Section as _Section
from simulator.config.nprt import check_buffer_pct, nprt_risk_rating
from simulator.config.periods import check_periods, parse_period

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
    "MapFiles",
    "Biomass",
    "Allocation",
    "Deforestation",
    "Leakage",
    "Sampler",
    "Simulation",
    "Accounting",
    "RiskScores",
    "Sensitivity",
    "RunConfig",
    "RunSpec",
    "STANDARD_KEYS",
    "CONFIG_NAME",
]

SCHEMA_VERSION = 1
CONFIG_NAME = "run.toml"

#: Keys of the implemented standards (``[accounting].standard``). The rules themselves are
#: :data:`simulator.accounting.standards.STANDARDS`, which is built over exactly these keys.
STANDARD_KEYS = ("VM0007-1.8", "VM0007-1.6", "VCS-MR-4.4", "ART-TREES-2.0", "FCPF-CF")


class Stratum(_Section):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")]
    label: Annotated[
        str,
        Field(max_length=80, description="display name in the appendix (default: the name)"),
    ] = ""
    area_ha: Annotated[
        float, Field(ge=0.01, le=1e9, description="forest area at the project start (ha)")
    ]
    # bounded so the area-weighted rescaling cannot overflow or round a stratum to zero
    relative_risk: Annotated[
        float,
        Field(
            ge=1e-3,
            le=1e3,
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
    """The crediting years and, optionally, the monitoring periods within them.

    ``periods`` are years or ranges of years (``"2026-2027"``), in order, distinct,
    not overlapping and without gaps (VCS Standard v4.7 §3.5.6-3.5.7), inside
    ``start_year .. start_year + years - 1``. With them the run also reports credits
    per monitoring period and per vintage.
    """

    start_year: Annotated[int, Field(ge=1990, le=2100)]
    years: Annotated[int, Field(ge=1, le=100)]
    periods: list[str] | None = None

    @model_validator(mode="after")
    def _periods_within_years(self):
        if self.periods is None:
            return self
        spans = [parse_period(p) for p in self.periods]
        check_periods(spans)
        last = self.start_year + self.years - 1
        if spans[0][0] < self.start_year or spans[-1][1] > last:
            raise ValueError(
                f"periods {self.periods[0]} .. {self.periods[-1]} reach outside the crediting "
                f"years {self.start_year}-{last}"
            )
        return self

    def period_spans(self) -> list[tuple[int, int]] | None:
        """The periods as ``(first_year, last_year)``, or None."""
        return None if self.periods is None else [parse_period(p) for p in self.periods]


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
    # sources of published magnitudes and priors, scope statements (TOML; optional)
    provenance: Path | None = None
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


class MapFiles(_Section):
    """The maps the activity data come from, drawn in the appendix (``figures/maps.png``).

    Paths are relative to the run directory (outside it only with
    ``[data].allow_outside_run_dir``), as ``reddsim import maps`` and ``reddsim
    sample-design`` take them: ``loss`` a loss-year raster (values ``year_base + v``),
    the ``project``, ``reference_region`` and optional ``belt`` boundaries, optional
    carbon ``strata`` (polygons with a ``stratum`` column, or a class raster), the
    interpreted accuracy ``sample`` (``points.csv`` or ``points.gpkg``) and a ``risk``
    raster of integer risk classes on the loss raster's grid. ``buffer_pixels`` is the
    buffer width the sample's map strata were drawn with. The maps are drawn and their
    SHA-256 recorded; no model reads them.
    """

    loss: Path
    year_base: Annotated[int, Field(ge=0, le=3000)] = 0
    project: Path
    reference_region: Path
    belt: Path | None = None
    strata: Path | None = None
    sample: Path | None = None
    risk: Path | None = None
    buffer_pixels: Annotated[int, Field(ge=0, le=100)] = 2

    def files(self) -> dict[str, Path]:
        """The configured files by name."""
        return {k: v for k, v in self if isinstance(v, Path)}


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
    # a chunk's arrays are allocated at once: 2**24 draws x the years is ~1.3 GB at most
    chunk_size: Annotated[int, Field(ge=1, le=2**24)] = 1_048_576
    mc_tolerance: Annotated[float | None, Field(gt=0, lt=1)] = None
    max_draws: Annotated[int | None, Field(ge=100, le=10**10)] = None


class RiskScores(_Section):
    """Category totals of the AFOLU Non-Permanence Risk Tool v4.2 (Tables 5, 9 and 11)."""

    internal: Annotated[float, Field(ge=0, description="internal risk (Table 5)")]
    external: Annotated[float, Field(ge=0, description="external risk (Table 9)")]
    natural: Annotated[float, Field(ge=0, description="natural risk (Table 11)")]

    def rating(self) -> int:
        """The overall rating (%), :func:`simulator.config.nprt.nprt_risk_rating`."""
        return nprt_risk_rating(self.internal, self.external, self.natural)


class Accounting(_Section):
    """The standard, and the non-permanence risk rating: typed in, or from the risk scores.

    With ``[accounting.risk]`` the rating is derived by the AFOLU Non-Permanence Risk
    Tool v4.2 (§2.5) and a ``buffer_pct`` given beside it must equal it; a typed
    ``buffer_pct`` alone must lie within the tool's 12 to 60.
    """

    standard: Annotated[str, Field(description="methodology and version, e.g. VM0007-1.8")]
    buffer_pct: Annotated[
        float | None,
        Field(description="non-permanence risk rating (%) from the AFOLU risk tool"),
    ] = None
    risk: RiskScores | None = None

    @model_validator(mode="after")
    def _known_standard(self):
        if self.standard not in STANDARD_KEYS:
            raise ValueError(
                f"standard {self.standard!r} is not one of {', '.join(sorted(STANDARD_KEYS))}"
            )
        if self.risk is not None:
            rating = self.risk.rating()  # RiskAnalysisFailed is a ValueError: one clear line
            if self.buffer_pct is not None and self.buffer_pct != rating:
                raise ValueError(
                    f"buffer_pct = {self.buffer_pct:g} but the risk scores give a rating of "
                    f"{rating} (AFOLU Non-Permanence Risk Tool v4.2 §2.5): give one or make "
                    "them agree"
                )
            object.__setattr__(self, "buffer_pct", float(rating))  # derived, then frozen
        elif self.buffer_pct is None:
            raise ValueError(
                "give buffer_pct or the risk scores [accounting.risk] internal, external, natural"
            )
        check_buffer_pct(self.buffer_pct)
        return self


def _power_of_two(n: int) -> int:
    if n & (n - 1):
        raise ValueError(f"must be a power of 2 (Sobol' points), got {n}")
    return n


class Sensitivity(_Section):
    """Sobol indices and sampling-effort planning (``simulator.analysis.sensitivity``)."""

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
    maps: MapFiles | None = None

    @model_serializer(mode="wrap")
    def _without_absent_maps(self, handler):
        # a run without [maps] dumps (and so hashes, records and caches) as it did before
        doc = handler(self)
        if isinstance(doc, dict) and doc.get("maps", ...) is None:
            del doc["maps"]
        return doc

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the validated configuration."""
        doc = self.model_dump(mode="json")
        for stratum in doc["project"]["strata"]:
            if not stratum["label"]:  # a display name added later: older configs keep their digest
                del stratum["label"]
        if doc["data"]["provenance"] is None:  # likewise a provenance file
            del doc["data"]["provenance"]
        blob = json.dumps(doc, sort_keys=True, separators=(",", ":"))
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

    def map_path(self, name: str) -> Path:
        """A ``[maps]`` file's path (the run directory joined to the configured one)."""
        return self.run_dir / getattr(self.config.maps, name)

    def with_overrides(
        self, n_draws: int | None = None, seed: int | None = None, mc_tolerance: float | None = None
    ) -> RunSpec:
        """Same spec with ``[simulation]`` settings replaced where given (re-validated)."""
        raw = self.config.model_dump(mode="json")
        given = {"n_draws": n_draws, "seed": seed, "mc_tolerance": mc_tolerance}
        raw["simulation"].update({k: v for k, v in given.items() if v is not None})
        from simulator.config.load import validate_config

        return RunSpec(validate_config(raw, self.path, "command line"), self.path)
