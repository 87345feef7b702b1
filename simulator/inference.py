"""Fit a run's Bayesian models and turn their posteriors into kernel inputs.

This is the seam between :mod:`models` (PyMC) and :mod:`simulator.kernels`
(numba): it calls each model's ``fit`` with the run's data and settings, checks
convergence, and flattens posterior draws into the arrays the kernel indexes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr

from models import biomass, deforestation, leakage
from models.allometry import HeightModel
from models.inventory import (
    Inventory,
    assign_wood_density,
    error_budget,
    load_wood_density_table,
    plot_agb_draws,
)
from models.sampling import Diagnostics, diagnose, flat_draws
from simulator import gates, rng
from simulator.config import RunSpec
from simulator.data import RunData
from simulator.kernels import MODEL_STREAMS, KernelInputs

__all__ = [
    "PlotBiomass",
    "build_inventory",
    "plot_biomass",
    "biomass_error_budget",
    "MODELS",
    "Posteriors",
    "model_seed",
    "fit_models",
    "kernel_inputs",
    "relative_risk",
    "crediting_years",
    "PRIOR_DRAWS",
    "scenario_draws",
]

log = logging.getLogger(__name__)

MODELS = ("biomass", "deforestation", "leakage")


@dataclass(frozen=True)
class PlotBiomass:
    """Tree-level Monte Carlo of the inventory: what the biomass model is fitted to.

    Attributes
    ----------
    inventory : Inventory
    height_model : HeightModel
    draws : ndarray, shape (n_plots, n_monte_carlo)
        Plot AGB density (Mg/ha) per Monte Carlo iteration.
    """

    inventory: Inventory
    height_model: HeightModel
    draws: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.draws.mean(axis=1)

    @property
    def sd(self) -> np.ndarray:
        return self.draws.std(axis=1, ddof=1)


@dataclass(frozen=True)
class Posteriors:
    """Posterior DataTrees by model name, their diagnostics, and the plot-level inputs."""

    trees: dict[str, xr.DataTree]
    diagnostics: list[Diagnostics]
    plots: PlotBiomass | None  # None when biomass comes from [data].carbon_stocks

    def combined(self, attrs: dict) -> xr.DataTree:
        """One DataTree with a child group per model (saved as ``posterior.nc``)."""
        root = xr.DataTree.from_dict({f"/{name}": None for name in self.trees})
        for name, tree in self.trees.items():
            root[name] = tree
        root.attrs.update(attrs)
        return root


def model_seed(seed: int, model: str) -> int:
    """Sampler seed of a model, derived from the run seed by the counter hash."""
    h = rng.counter_hash(seed, 0, 0, MODEL_STREAMS[model], 0)
    return int(h >> np.uint64(33))  # 31 bits: accepted by every seeding API


def fit_models(
    spec: RunSpec,
    data: RunData,
    on_stage: Callable[[str], None] | None = None,
    allow_unconverged: bool = False,
) -> Posteriors:
    """Sample every model of the run and gate on convergence diagnostics.

    Parameters
    ----------
    spec : RunSpec
    data : RunData
    on_stage : callable, optional
        Called with the name of each stage (``"sampling biomass"``, ...) as it starts.
    allow_unconverged : bool
        Override the sampler gate (as ``[sampler].allow_failed_diagnostics`` does).

    Raises
    ------
    ConvergenceError
        If a model fails R-hat/ESS/divergence checks and the gate is not overridden
        (:func:`simulator.gates.check_sampler`).
    """
    cfg = spec.config
    seed = cfg.simulation.seed
    strata = [s.name for s in cfg.project.strata]
    on_stage = on_stage or (lambda stage: None)
    plots = None
    if data.carbon_stocks is not None:

        def fit_biomass():
            return biomass.fit_stocks(
                strata, data.carbon_stocks, cfg.biomass, cfg.sampler, model_seed(seed, "biomass")
            )

        biomass_free = biomass.STOCK_FREE_PARAMETERS
    else:
        on_stage("tree Monte Carlo")
        plots = plot_biomass(spec, data)

        def fit_biomass():
            return biomass.fit_plots(
                strata,
                plots.inventory.plot_stratum,
                plots.mean,
                plots.sd,
                cfg.biomass,
                cfg.sampler,
                model_seed(seed, "biomass"),
            )

        biomass_free = biomass.FREE_PARAMETERS
    fits = {
        "biomass": fit_biomass,
        "deforestation": lambda: deforestation.fit(
            data.deforestation["year"],
            data.deforestation["forest_area_ha"],
            data.deforestation["loss_ha"],
            data.deforestation["loss_se_ha"],
            cfg.deforestation,
            cfg.sampler,
            model_seed(seed, "deforestation"),
            monitoring=data.project_monitoring,
        ),
        "leakage": lambda: leakage.fit(
            data.leakage_belt["year"],
            data.leakage_belt["avoided_ha"],
            data.leakage_belt["belt_loss_ha"],
            data.leakage_belt["belt_baseline_ha"],
            data.leakage_belt["belt_se_ha"],
            cfg.leakage,
            cfg.sampler,
            model_seed(seed, "leakage"),
        ),
    }
    free = {
        "biomass": biomass_free,
        "deforestation": deforestation.FREE_PARAMETERS
        + (deforestation.ALLOCATION_PARAMETERS if cfg.deforestation.allocation else []),
        "leakage": leakage.FREE_PARAMETERS,
    }
    trees, diags = {}, []
    for name in MODELS:
        on_stage(f"sampling {name}")
        log.info("sampling %s model", name)
        trees[name] = fits[name]()
        names = [v for v in free[name] if v in trees[name].posterior]
        diags.append(diagnose(name, trees[name], names))
        log.info("%s diagnostics: %s", name, diags[-1].as_dict())
        if not diags[-1].passed:
            log.warning(
                "%s model fails the sampler gate: %s", name, ", ".join(diags[-1].failures())
            )
    gates.check_sampler(diags, cfg.sampler, gates.override_source(allow_unconverged, cfg.sampler))
    return Posteriors(trees, diags, plots)


def build_inventory(spec: RunSpec, data: RunData) -> Inventory:
    """The run's tree inventory with wood densities assigned (measured, genus or regional)."""
    plots, trees = data.plots, data.trees
    index = {pid: i for i, pid in enumerate(plots["plot_id"].tolist())}
    wd, wd_sd, source = assign_wood_density(
        trees["wood_density"],
        trees["genus"],
        load_wood_density_table(),
        spec.config.biomass.genus_wood_density_sd,
        spec.config.biomass.measured_wood_density_sd,
    )
    return Inventory(
        tree_plot=np.array([index[p] for p in trees["plot_id"].tolist()], dtype=np.int64),
        dbh_cm=trees["dbh_cm"],
        height_m=trees["height_m"],
        wood_density=wd,
        wood_density_sd=wd_sd,
        wood_density_source=source,
        plot_id=plots["plot_id"],
        plot_stratum=plots["stratum"],
        area_ha=plots["area_ha"],
        subplot_area_ha=plots["subplot_area_ha"],
        subplot_max_dbh_cm=plots["subplot_max_dbh_cm"],
    )


def plot_biomass(spec: RunSpec, data: RunData) -> PlotBiomass:
    """Fit the H-D model and propagate tree-level errors to each plot's AGB density."""
    cfg = spec.config.biomass
    inv = build_inventory(spec, data)
    hd = inv.height_model()
    log.info("height model %s %s, RSE %.2f m (n = %d)", hd.form, hd.params, hd.rse, hd.n)
    draws = plot_agb_draws(
        inv,
        hd,
        cfg.n_monte_carlo,
        spec.config.simulation.seed,
        measured_height_sd=cfg.measured_height_sd_m,
    )
    return PlotBiomass(inv, hd, draws)


def biomass_error_budget(spec: RunSpec, posteriors: Posteriors) -> dict[str, np.ndarray] | None:
    """Variance contributions to each stratum carbon density (see models.inventory).

    None when biomass comes from stated carbon stocks (no inventory to decompose).
    """
    cfg = spec.config
    if posteriors.plots is None:
        return None
    tau = flat_draws(posteriors.trees["biomass"], "tau")
    return error_budget(
        posteriors.plots.inventory,
        posteriors.plots.height_model,
        [s.name for s in cfg.project.strata],
        min(cfg.biomass.n_monte_carlo, 500),
        cfg.simulation.seed,
        between_plot_var=(tau**2).mean(axis=0),
        carbon_fraction=(cfg.biomass.carbon_fraction.mean, cfg.biomass.carbon_fraction.sd),
        root_shoot=(cfg.biomass.root_shoot.mean, cfg.biomass.root_shoot.sd),
        measured_height_sd=cfg.biomass.measured_height_sd_m,
    )


def relative_risk(spec: RunSpec) -> np.ndarray:
    """Strata's relative risks rescaled to an area-weighted mean of 1."""
    strata = spec.config.project.strata
    area = np.array([s.area_ha for s in strata])
    risk = np.array([s.relative_risk for s in strata])
    return risk * area.sum() / (risk * area).sum()


def crediting_years(spec: RunSpec) -> np.ndarray:
    c = spec.config.crediting
    return np.arange(c.start_year, c.start_year + c.years)


#: Size of the i.i.d. prior samples that stand in for prior-only scenario parameters.
PRIOR_DRAWS = 2**20


def scenario_draws(
    spec: RunSpec, data: RunData, defo: xr.DataTree
) -> tuple[np.ndarray, np.ndarray]:
    """Draws of the effectiveness ``e`` and the post-conversion carbon ``C_post``.

    Neither enters a likelihood unless project monitoring is given (then ``e`` does),
    so their posterior is their prior, and a posteriori both are independent of the
    rate model's parameters (the kernel picks them independently). An MCMC sample of
    a prior-only parameter only adds Monte Carlo error (its few thousand draws are
    reused by a million futures): each such parameter is given :data:`PRIOR_DRAWS`
    i.i.d. draws of its prior instead (NumPy, seeded by the run seed). With monitoring
    data, ``e`` is the MCMC posterior sample.
    """
    cfg = spec.config
    gen = np.random.default_rng([cfg.simulation.seed, 0x5343454E])
    post = cfg.deforestation.post_conversion_tco2e_ha
    shape, scale = (post.mean / post.sd) ** 2, post.sd**2 / post.mean  # Gamma(mean, sd)
    post_carbon = gen.gamma(shape, scale, PRIOR_DRAWS)
    if data.project_monitoring is not None:
        return flat_draws(defo, "effectiveness"), post_carbon
    eff = cfg.deforestation.effectiveness
    share = gen.beta(eff.alpha, eff.beta, PRIOR_DRAWS)
    return np.minimum(eff.lower + (1.0 - eff.lower) * share, np.nextafter(1.0, 0.0)), post_carbon


def kernel_inputs(spec: RunSpec, data: RunData, posteriors: Posteriors) -> KernelInputs:
    """Flatten posterior draws into :class:`~simulator.kernels.KernelInputs`.

    The process noise is carried from the last reference year through the years
    before the crediting start (:func:`models.deforestation.gap_years`).
    """
    cfg = spec.config
    bio, defo, leak = (posteriors.trees[m] for m in MODELS)
    reference = data.deforestation["year"]
    trend, highway = deforestation.projection_covariates(
        reference, crediting_years(spec), cfg.deforestation
    )
    a, b, c = (flat_draws(defo, v)[:, None] for v in ("a", "b", "c"))
    loss_target = None
    if cfg.deforestation.baseline == "allocated":
        allocated = flat_draws(defo, "jurisdiction_loss_ha") * flat_draws(defo, "risk_share")
        loss_target = np.repeat(allocated[:, None], cfg.crediting.years, axis=1)
    ar1 = "phi" in defo.posterior
    effectiveness, post_carbon = scenario_draws(spec, data, defo)
    return KernelInputs(
        carbon_density=flat_draws(bio, "carbon_tco2e_ha"),
        log_rate_mean=deforestation.log_hazard_mean(a, b, c, trend[None, :], highway[None, :]),
        rate_sigma=flat_draws(defo, "sigma"),
        effectiveness=effectiveness,
        post_carbon=post_carbon,
        leakage_fraction=flat_draws(leak, "displacement"),
        area=np.array([s.area_ha for s in cfg.project.strata]),
        risk=relative_risk(spec),
        loss_target=loss_target,
        rate_phi=flat_draws(defo, "phi") if ar1 else None,
        noise_last=flat_draws(defo, "noise")[:, -1] if ar1 else None,
        gap_years=deforestation.gap_years(reference, cfg.crediting.start_year),
    )
