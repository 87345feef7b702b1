"""The tree inventory's Monte Carlo: what the biomass model is fitted to.

Wood densities assigned (measured, genus or regional), the height-diameter model
fitted, tree-level errors propagated to each plot's AGB density
(:func:`models.inventory.plot_agb_draws`), and the error budget of each stratum's
carbon density (:func:`models.inventory.error_budget`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from models.allometry import HeightModel
from models.inventory import (
    Inventory,
    assign_wood_density,
    error_budget,
    load_wood_density_table,
    plot_agb_draws,
)
from models.sampling import flat_draws
from simulator.config import RunSpec
from simulator.data import RunData

__all__ = ["PlotBiomass", "build_inventory", "plot_biomass", "biomass_error_budget"]

log = logging.getLogger(__name__)


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


def biomass_error_budget(spec: RunSpec, posteriors) -> dict[str, np.ndarray] | None:
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
