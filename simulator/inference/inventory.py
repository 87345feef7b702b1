"""The tree inventory's Monte Carlo: what the biomass model is fitted to.

Wood densities assigned from the Global Wood Density Database
(:mod:`models.wood_density`), palms flagged, the height-diameter models fitted,
tree-level errors propagated to each plot's AGB density
(:func:`models.inventory.plot_agb_draws`) with the shared factors (Eq. 4
coefficients, H-D parameters, fallback wood-density means, site bias) drawn once
per iteration and carried to the stratum means as common factors
(:func:`apply_shared_factor`), and the error budget of each stratum's carbon
density (:func:`models.inventory.error_budget`). ``reddsim biomass``
(:mod:`simulator.inference.trees`) runs the same functions on CSV files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import xarray as xr

from models.inventory import (
    ErrorSources,
    HeightModelSet,
    Inventory,
    candidate_agb,
    error_budget,
    plot_agb_draws,
)
from models.sampling import flat_draws
from models.wood_density import PALM_FAMILY, assign_wood_density, load_wood_density_table
from simulator.config import RunSpec
from simulator.data import RunData

__all__ = [
    "PlotBiomass",
    "inventory_from_tables",
    "build_inventory",
    "tree_monte_carlo",
    "plot_biomass",
    "apply_shared_factor",
    "biomass_error_budget",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlotBiomass:
    """Tree-level Monte Carlo of the inventory: what the biomass model is fitted to.

    Attributes
    ----------
    inventory : Inventory
    height_model : HeightModelSet
    draws : ndarray, shape (n_plots, n_monte_carlo)
        Plot AGB density (Mg/ha) per Monte Carlo iteration, every error source on.
    independent : ndarray, shape (n_plots, n_monte_carlo)
        The same with only the independent (per-tree) sources on, shared factors at
        their central values: the plot means and SDs the stratum model is fitted to.
    shared : ndarray, shape (n_plots, n_monte_carlo)
        The same with only the shared factors on (same draws as in ``draws``).
    candidates : dict
        Deterministic plot AGB (Mg/ha) under each candidate H-D form.
    """

    inventory: Inventory
    height_model: HeightModelSet
    draws: np.ndarray
    independent: np.ndarray | None = None
    shared: np.ndarray | None = None
    candidates: dict | None = None

    @property
    def mean(self) -> np.ndarray:
        """Plot mean AGB (Mg/ha) for the stratum model (independent sources)."""
        d = self.draws if self.independent is None else self.independent
        return d.mean(axis=1)

    @property
    def sd(self) -> np.ndarray:
        """Plot AGB SD (Mg/ha) from the independent sources (shared ones are not in it)."""
        d = self.draws if self.independent is None else self.independent
        return d.std(axis=1, ddof=1)

    def shared_ratio(self, strata: list[str]) -> np.ndarray:
        """Per iteration, each stratum's mean AGB under the shared factors over its mean.

        Shape (n_monte_carlo, n_strata); mean one. Multiplies the stratum posterior
        so that the common factors reach the stratum means as common factors.
        """
        ps = np.asarray(self.inventory.plot_stratum)
        d = self.draws if self.shared is None else self.shared
        m = np.stack([d[ps == s].mean(axis=0) for s in strata], axis=1)
        return m / m.mean(axis=0)


def inventory_from_tables(
    plots: dict,
    trees: dict,
    measured_wood_density_sd: float = 0.0,
    lookup_wood_density_sd: float | None = None,
    palm_model: str = "goodman2013",
) -> Inventory:
    """A tree inventory with wood densities assigned (:mod:`models.wood_density`) and palms flagged.

    ``trees`` holds the columns of ``trees.csv`` (``species``, ``family`` and
    ``wood_density_sd`` may be all empty); ``lookup_wood_density_sd`` overrides
    the within-taxon SDs of looked-up densities. ``palm_model = "chave2014"`` treats
    palms as other trees (Eq. 4 with a wood density), as BIOMASS does.
    """
    index = {pid: i for i, pid in enumerate(plots["plot_id"].tolist())}
    tree_plot = np.array([index[p] for p in trees["plot_id"].tolist()], dtype=np.int64)
    n = tree_plot.size
    empty = np.full(n, "", dtype=object).astype(str)
    table = load_wood_density_table()
    family = trees.get("family", empty)
    genus = trees["genus"]
    fam = np.array(
        [f if f else table.genus_family.get(g, "") for f, g in zip(family, genus, strict=True)]
    )
    palm = fam == PALM_FAMILY
    if palm_model == "chave2014":
        palm = np.zeros(n, bool)
    elif palm_model != "goodman2013":
        raise ValueError(f"palm model must be goodman2013 or chave2014, got {palm_model!r}")
    wd = assign_wood_density(
        trees["wood_density"],
        genus,
        trees.get("species", empty),
        tree_plot,
        table,
        measured_wood_density_sd,
        trees.get("wood_density_sd"),
        family,
        exclude=palm,
    )
    sd = wd.sd
    if lookup_wood_density_sd is not None:
        looked_up = np.isin(wd.source, ("species", "genus", "family"))
        sd = np.where(looked_up, lookup_wood_density_sd, sd)
    return Inventory(
        tree_plot=tree_plot,
        dbh_cm=trees["dbh_cm"],
        height_m=trees["height_m"],
        wood_density=wd.mean,
        wood_density_sd=sd,
        wood_density_source=np.where(palm, "palm", wd.source),  # palms need none
        plot_id=plots["plot_id"],
        plot_stratum=plots["stratum"],
        area_ha=plots["area_ha"],
        subplot_area_ha=plots["subplot_area_ha"],
        subplot_max_dbh_cm=plots["subplot_max_dbh_cm"],
        is_palm=palm,
        wood_density_group=wd.fallback_group,
        wood_density_group_se=wd.fallback_se,
    )


def build_inventory(spec: RunSpec, data: RunData) -> Inventory:
    """The run's tree inventory (:func:`inventory_from_tables` with the run's settings)."""
    cfg = spec.config.biomass
    return inventory_from_tables(
        data.plots, data.trees, cfg.measured_wood_density_sd, cfg.genus_wood_density_sd
    )


def tree_monte_carlo(
    inv: Inventory,
    n: int,
    seed: int,
    hd_model: str = "auto",
    hd_weights: str = "none",
    measured_height_sd: float = 0.0,
    site_bias_sd: float = 0.0,
    extra_heights=None,
) -> PlotBiomass:
    """Fit the H-D models and run the tree-to-plot Monte Carlo (all, independent, shared)."""
    hd = inv.height_model(hd_model, hd_weights, extra_heights)
    log.info("height models: %s", hd.describe())
    args = dict(measured_height_sd=measured_height_sd, site_bias_sd=site_bias_sd)
    draws = plot_agb_draws(inv, hd, n, seed, **args)
    independent = plot_agb_draws(inv, hd, n, seed, ErrorSources.independent(), **args)
    shared = plot_agb_draws(inv, hd, n, seed, ErrorSources.shared(), **args)
    return PlotBiomass(inv, hd, draws, independent, shared, candidate_agb(inv, hd))


def plot_biomass(spec: RunSpec, data: RunData) -> PlotBiomass:
    """The run's tree-level Monte Carlo (:func:`tree_monte_carlo` with its settings)."""
    cfg = spec.config.biomass
    return tree_monte_carlo(
        build_inventory(spec, data),
        cfg.n_monte_carlo,
        spec.config.simulation.seed,
        cfg.hd_model,
        cfg.hd_weights,
        cfg.measured_height_sd_m,
        cfg.site_bias_sd,
    )


def apply_shared_factor(tree: xr.DataTree, ratio: np.ndarray) -> xr.DataTree:
    """Multiply the stratum AGB and carbon posteriors by the shared tree-level factor.

    The stratum model is fitted to plot means and SDs from the independent error
    sources only; the shared factors (Eq. 4 coefficients, H-D parameters, fallback
    wood-density means, site bias) are common to all plots, so they enter as one
    multiplicative factor per draw (:meth:`PlotBiomass.shared_ratio`), paired with
    posterior draw i by i modulo the number of Monte Carlo iterations. The factor
    is stored as ``shared_factor``.
    """
    post = tree.posterior.to_dataset()
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    idx = np.arange(n_chain * n_draw) % ratio.shape[0]
    factor = xr.DataArray(
        ratio[idx].reshape(n_chain, n_draw, -1),
        dims=("chain", "draw", "stratum"),
        coords={"chain": post.chain, "draw": post.draw, "stratum": post.stratum},
    )
    for v in ("agb_mg_ha", "agb_tco2e_ha", "carbon_tco2e_ha"):
        if v in post:
            post[v] = post[v] * factor
    post["shared_factor"] = factor
    tree["posterior"] = post
    return tree


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
        site_bias_sd=cfg.biomass.site_bias_sd,
    )
