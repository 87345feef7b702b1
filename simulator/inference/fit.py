"""Sample a run's Bayesian models and diagnose their convergence.

It calls each model's ``fit`` (:mod:`models`) with the run's data and settings and
summarises each posterior's convergence over the run's gated parameters
(:func:`gated_parameters`, the one list that the sampler gate, the posterior
tables and the rank plots all use). Whether a failed diagnosis stops the run is
decided by :mod:`simulator.orchestration.gates`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from models import biomass, deforestation, leakage
from models.sampling import Diagnostics, diagnose
from simulator.config import RunConfig, RunSpec
from simulator.data import RunData
from simulator.engine import rng
from simulator.inference.inventory import PlotBiomass, apply_shared_factor, plot_biomass

__all__ = ["MODELS", "Posteriors", "gated_parameters", "model_seed", "fit_models"]

log = logging.getLogger(__name__)

MODELS = ("biomass", "deforestation", "leakage")


def gated_parameters(cfg: RunConfig) -> dict[str, list[str]]:
    """The free parameters of each model of a run, whose convergence gates it.

    The biomass model is the inventory model or the carbon-stock model
    (``[data] carbon_stocks``); an allocated baseline adds the jurisdiction's loss
    and the project's risk share to the deforestation model.
    """
    stocks = cfg.data.carbon_stocks is not None
    allocated = cfg.deforestation.allocation is not None
    return {
        "biomass": list(biomass.STOCK_FREE_PARAMETERS if stocks else biomass.FREE_PARAMETERS),
        "deforestation": deforestation.FREE_PARAMETERS
        + (deforestation.ALLOCATION_PARAMETERS if allocated else []),
        "leakage": list(leakage.FREE_PARAMETERS),
    }


@dataclass(frozen=True)
class Posteriors:
    """Posterior DataTrees by model name, their diagnostics, and the plot-level inputs."""

    trees: dict[str, xr.DataTree]
    diagnostics: list[Diagnostics]
    plots: PlotBiomass | None  # None when biomass comes from [data].carbon_stocks
    #: Gated parameters of each model present in its posterior (:func:`gated_parameters`):
    #: the ones the sampler gate diagnosed, and the ones the posterior tables and rank
    #: plots show.
    gated: dict[str, list[str]] = field(default_factory=dict)

    def combined(self, attrs: dict) -> xr.DataTree:
        """One DataTree with a child group per model (saved as ``posterior.nc``)."""
        root = xr.DataTree.from_dict({f"/{name}": None for name in self.trees})
        for name, tree in self.trees.items():
            root[name] = tree
        root.attrs.update(attrs)
        return root


def model_seed(seed: int, model: str) -> int:
    """Sampler seed of a model, derived from the run seed by the counter hash."""
    h = rng.counter_hash(seed, 0, 0, rng.MODEL_STREAMS[model], 0)
    return int(h >> np.uint64(33))  # 31 bits: accepted by every seeding API


def fit_models(
    spec: RunSpec,
    data: RunData,
    on_stage: Callable[[str], None] | None = None,
) -> Posteriors:
    """Sample every model of the run and diagnose its convergence.

    Parameters
    ----------
    spec : RunSpec
    data : RunData
    on_stage : callable, optional
        Called with the name of each stage (``"sampling biomass"``, ...) as it starts.

    Returns
    -------
    Posteriors
        With one :class:`~models.sampling.Diagnostics` per model, over
        :func:`gated_parameters`; the caller applies the gate
        (:func:`simulator.orchestration.gates.check_sampler`).
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

        fit_independent = fit_biomass

        def fit_biomass():
            # the shared tree-level factors reach the stratum means as common factors
            return apply_shared_factor(fit_independent(), plots.shared_ratio(strata))

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
    free = gated_parameters(cfg)
    trees, diags, gated = {}, [], {}
    for name in MODELS:
        on_stage(f"sampling {name}")
        log.info("sampling %s model", name)
        trees[name] = fits[name]()
        # the stock model has a carbon fraction only when a pool is in dry matter
        gated[name] = [v for v in free[name] if v in trees[name].posterior]
        diags.append(diagnose(name, trees[name], gated[name]))
        log.info("%s diagnostics: %s", name, diags[-1].as_dict())
        if not diags[-1].passed:
            log.warning(
                "%s model fails the sampler gate: %s", name, ", ".join(diags[-1].failures())
            )
    return Posteriors(trees, diags, plots, gated)
