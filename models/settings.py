"""Settings of the Bayesian models: priors and sampler options, as validated data.

These are the sections of ``run.toml`` that the models read (``[biomass]``,
``[deforestation]``, ``[leakage]``, ``[sampler]``). They live here, below both
packages, so that :mod:`models` never imports :mod:`simulator`;
:mod:`simulator.config` builds the whole run schema on top of them. Importing
this module loads pydantic only (no PyMC, numba or xarray).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Section",
    "NormalPrior",
    "BoundedNormalPrior",
    "BetaPrior",
    "EffectivenessPrior",
    "Biomass",
    "Allocation",
    "Deforestation",
    "Leakage",
    "Sampler",
]


class Section(BaseModel):
    """A strict, frozen configuration section: unknown keys and non-finite numbers are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NormalPrior(Section):
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


class BetaPrior(Section):
    """Beta(alpha, beta) prior of a fraction."""

    alpha: Annotated[float, Field(gt=0)]
    beta: Annotated[float, Field(gt=0)]


class EffectivenessPrior(BetaPrior):
    """Beta(alpha, beta) prior scaled to ``[lower, 1]``: ``e = lower + (1 - lower) B``.

    ``lower < 0`` allows a project that does not reduce (or increases) deforestation.
    """

    lower: Annotated[float, Field(ge=-5, lt=1, description="smallest possible effectiveness")] = 0.0


class Biomass(Section):
    carbon_fraction: NormalPrior = NormalPrior(mean=0.47, sd=0.0206)
    root_shoot: BoundedNormalPrior = BoundedNormalPrior(mean=0.37, sd=0.04, lower=0.27, upper=0.44)
    n_monte_carlo: Annotated[
        int, Field(ge=50, le=100_000, description="tree-level Monte Carlo iterations per plot")
    ] = 1000
    genus_wood_density_sd: Annotated[
        float | None,
        Field(
            ge=0,
            le=0.5,
            description="SD (g/cm3) of a looked-up wood density (default: the database's "
            "within-taxon SDs)",
        ),
    ] = None
    measured_wood_density_sd: Annotated[float, Field(ge=0, le=0.5)] = 0.0
    measured_height_sd_m: Annotated[float, Field(ge=0, le=20)] = 0.0
    hd_model: Literal["auto", "log1", "log2", "log3", "weibull", "michaelis"] = "auto"
    hd_weights: Literal["none", "d2h"] = "none"
    site_bias_sd: Annotated[
        float, Field(ge=0, le=1, description="SD of a shared log-scale site bias of the allometry")
    ] = 0.0


class Allocation(Section):
    """Allocated baseline (VM0048 shape): jurisdiction projected loss x the project share."""

    jurisdiction_loss_ha: Annotated[
        NormalPrior, Field(description="projected annual loss of the jurisdiction (ha/yr)")
    ]
    risk_share: Annotated[
        BetaPrior, Field(description="the project's share of the jurisdiction's deforestation risk")
    ]


class Deforestation(Section):
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
    compare_noise: Annotated[
        bool,
        Field(
            description="also fit the other noise form and compare both by PSIS-LOO "
            "(reported in the appendix; the run keeps `noise`)"
        ),
    ] = False
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


class Leakage(Section):
    displacement: BetaPrior
    belt_baseline_cv: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="relative SD of the belt's counterfactual loss (0: taken as exact)",
        ),
    ] = 0.1


class Sampler(Section):
    chains: Annotated[int, Field(ge=1, le=64)] = 4
    # bounded before anything is allocated: chains x draws x parameters are held in memory
    draws: Annotated[int, Field(ge=50, le=100_000)] = 1000
    tune: Annotated[int, Field(ge=50, le=100_000)] = 1000
    target_accept: Annotated[float, Field(gt=0.5, lt=1)] = 0.9
    allow_failed_diagnostics: bool = False
