"""Plot above-ground biomass from tree inventories, with every error propagated.

For each plot, :func:`plot_agb_draws` draws ``n`` Monte Carlo realisations of the
plot's AGB density (Mg/ha) the way BIOMASS ``AGBmonteCarlo`` does (Réjou-Méchain
et al. 2017), with each error source switchable (:class:`ErrorSources`):

* **diameter**: truncated normal on [0.1, 500] cm with Chave et al. (2004)
  SD = 0.0062 D + 0.0904 cm, and SD = 4.64 cm for a random 5% of trees
  (gross errors);
* **wood density**: truncated normal on [0.08, 1.39] g/cm3 (the extremes of the
  Global Wood Density Database) with the tree's wood-density SD;
* **height**: trees with a measured height keep it (with an optional SD);
  trees without one get the fitted H-D model's prediction at the simulated
  diameter plus a residual of the model's RSE (log scale for the log-log form);
* **allometry**: Chave et al. (2014) Eq. 4 on the log scale with a residual
  N(0, 0.357) per tree; the intercept is ln(0.0673) - 0.357^2/2 so that the
  Monte Carlo mean equals Eq. 4's bias-corrected prediction.

Each tree counts with its expansion factor: 1/area of the (sub)plot where trees
of its size were measured. With every source off, a draw is the deterministic
Eq. 4 sum (tested).

Not propagated: the uncertainty of Eq. 4's coefficients (BIOMASS draws them from
a posterior sample, ``param_4``, that is not available here as text); this
understates the allometric part, which is correlated across trees.

References
----------
Réjou-Méchain, M. et al. (2017). BIOMASS: an R package for estimating above-ground
biomass and its uncertainty in tropical forests. Methods Ecol. Evol. 8, 1163-1167
(``AGBmonteCarlo``, ``modelHD``, ``getWoodDensity``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from importlib import resources

import numpy as np
from scipy import special

from models.allometry import (
    CHAVE2014_RSE,
    HeightModel,
    chave2004_diameter_sd,
    chave2014_agb,
    fit_height_model,
)

__all__ = [
    "ErrorSources",
    "Inventory",
    "WoodDensityTable",
    "GROSS_DIAMETER_SD",
    "GROSS_ERROR_SHARE",
    "REGIONAL_WOOD_DENSITY",
    "load_wood_density_table",
    "assign_wood_density",
    "expansion_factors",
    "plot_agb_draws",
    "plot_agb_deterministic",
    "error_budget",
]

#: SD (cm) of a gross diameter error and the share of trees with one (Chave et al. 2004).
GROSS_DIAMETER_SD = 4.64
GROSS_ERROR_SHARE = 0.05
#: Regional wood density (g/cm3) for trees without a measured or genus value:
#: mean over species (BIOMASS wsg_estimates) and the SD between trees of the 51
#: Madre de Dios harvest trees of Chave et al. (2014).
REGIONAL_WOOD_DENSITY = (0.598, 0.185)
D_BOUNDS = (0.1, 500.0)
WD_BOUNDS = (0.08, 1.39)
H_MIN = 1.3
ALLOMETRY_LOG_INTERCEPT = np.log(0.0673) - CHAVE2014_RSE**2 / 2


@dataclass(frozen=True)
class ErrorSources:
    """Which sources of error the Monte Carlo propagates."""

    diameter: bool = True
    wood_density: bool = True
    height: bool = True
    allometry: bool = True

    @classmethod
    def none(cls) -> ErrorSources:
        return cls(False, False, False, False)

    @classmethod
    def only(cls, name: str) -> ErrorSources:
        return replace(cls.none(), **{name: True})


@dataclass(frozen=True)
class WoodDensityTable:
    """Genus mean wood densities (g/cm3) with their source."""

    means: dict[str, float]
    sources: dict[str, str]


def load_wood_density_table() -> WoodDensityTable:
    """The genus wood-density table shipped with reddsim (``models/data/wood_density.csv``)."""
    text = resources.files("models").joinpath("data/wood_density.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return WoodDensityTable(
        {r["genus"]: float(r["wood_density"]) for r in rows},
        {r["genus"]: r["source"] for r in rows},
    )


@dataclass(frozen=True)
class Inventory:
    """A validated tree inventory (arrays over trees, and over plots).

    Tree arrays: ``tree_plot`` (plot index), ``dbh_cm``, ``height_m`` (NaN where
    not measured), ``wood_density`` and ``wood_density_sd`` (after lookup),
    ``wood_density_source`` ("measured", "genus" or "regional").
    Plot arrays: ``plot_id``, ``plot_stratum``, ``area_ha``, ``subplot_area_ha``,
    ``subplot_max_dbh_cm``.
    """

    tree_plot: np.ndarray
    dbh_cm: np.ndarray
    height_m: np.ndarray
    wood_density: np.ndarray
    wood_density_sd: np.ndarray
    wood_density_source: np.ndarray
    plot_id: np.ndarray
    plot_stratum: np.ndarray
    area_ha: np.ndarray
    subplot_area_ha: np.ndarray
    subplot_max_dbh_cm: np.ndarray

    @property
    def n_plots(self) -> int:
        return self.plot_id.size

    def height_model(self) -> HeightModel:
        """H-D model fitted to the trees with a measured height."""
        measured = np.isfinite(self.height_m)
        return fit_height_model(self.dbh_cm[measured], self.height_m[measured])


def assign_wood_density(
    measured, genus, table: WoodDensityTable, lookup_sd: float, measured_sd: float = 0.0
):
    """Wood density of each tree: measured, else genus mean, else the regional mean.

    Returns
    -------
    (mean, sd, source) : arrays over trees
        ``source`` is "measured", "genus" or "regional" (fallback), so the appendix
        can say which trees used a fallback.
    """
    measured = np.asarray(measured, dtype=float)
    genus = np.asarray(genus, dtype=str)
    known = np.array([g in table.means for g in genus], dtype=bool)
    genus_wd = np.array([table.means.get(g, np.nan) for g in genus])
    has = np.isfinite(measured)
    source = np.where(has, "measured", np.where(known, "genus", "regional"))
    mean = np.where(has, measured, np.where(known, genus_wd, REGIONAL_WOOD_DENSITY[0]))
    sd = np.where(has, measured_sd, np.where(known, lookup_sd, REGIONAL_WOOD_DENSITY[1]))
    return mean, sd, source


def expansion_factors(inv: Inventory) -> np.ndarray:
    """Trees per hectare each tree stands for: 1 / area of the (sub)plot that measured it."""
    p = inv.tree_plot
    small = inv.dbh_cm < inv.subplot_max_dbh_cm[p]
    return np.where(small, 1.0 / inv.subplot_area_ha[p], 1.0 / inv.area_ha[p])


def _truncated_normal(gen, mean, sd, lower, upper):
    """Truncated normal by inversion (as BIOMASS ``myrtruncnorm``); sd == 0 returns mean."""
    mean, sd = np.broadcast_arrays(np.asarray(mean, float), np.asarray(sd, float))
    out = mean.copy()
    live = sd > 0
    if np.any(live):
        m, s = mean[live], sd[live]
        lo = special.ndtr((lower - m) / s)
        hi = special.ndtr((upper - m) / s)
        u = lo + gen.random(m.shape) * (hi - lo)
        out[live] = m + s * special.ndtri(np.clip(u, 1e-300, 1 - 1e-16))
    return out


def _tree_agb_kg(rho, d, h, residual=0.0):
    """Chave et al. (2014) Eq. 4 on the log scale (residual = 0: the bias-corrected mean)."""
    if np.isscalar(residual) and residual == 0.0:
        return chave2014_agb(rho, d, h)
    return np.exp(ALLOMETRY_LOG_INTERCEPT + 0.976 * np.log(rho * d**2 * h) + residual)


def plot_agb_deterministic(inv: Inventory, hd: HeightModel) -> np.ndarray:
    """Plot AGB density (Mg/ha) from Eq. 4 with no error (measured or predicted heights)."""
    h = np.where(np.isfinite(inv.height_m), inv.height_m, hd.predict(inv.dbh_cm))
    agb = _tree_agb_kg(inv.wood_density, inv.dbh_cm, h) * expansion_factors(inv) / 1000.0
    return np.bincount(inv.tree_plot, weights=agb, minlength=inv.n_plots)


def plot_agb_draws(
    inv: Inventory,
    hd: HeightModel,
    n: int,
    seed: int,
    sources: ErrorSources = ErrorSources(),
    measured_height_sd: float = 0.0,
) -> np.ndarray:
    """Monte Carlo draws of each plot's AGB density (Mg/ha).

    Parameters
    ----------
    inv : Inventory
    hd : HeightModel
        H-D model for trees without a measured height.
    n : int
        Monte Carlo iterations.
    seed : int
        Seed of the NumPy generator (the same seed gives the same draws).
    sources : ErrorSources
        Error sources to propagate.
    measured_height_sd : float
        SD (m) of a measured height (0: measured heights are exact).

    Returns
    -------
    ndarray, shape (n_plots, n)
    """
    gen = np.random.default_rng([seed, 0x4249_4F4D])  # independent of other streams
    n_trees = inv.dbh_cm.size
    ef = expansion_factors(inv) / 1000.0
    measured_h = np.isfinite(inv.height_m)
    out = np.empty((inv.n_plots, n))
    for k in range(n):
        d = inv.dbh_cm
        if sources.diameter:
            sd = chave2004_diameter_sd(inv.dbh_cm)
            gross = gen.choice(n_trees, size=round(GROSS_ERROR_SHARE * n_trees), replace=False)
            sd[gross] = GROSS_DIAMETER_SD
            d = _truncated_normal(gen, inv.dbh_cm, sd, *D_BOUNDS)
        rho = inv.wood_density
        if sources.wood_density:
            rho = _truncated_normal(gen, inv.wood_density, inv.wood_density_sd, *WD_BOUNDS)
        h = np.where(measured_h, inv.height_m, hd.predict(d))
        if sources.height:
            h_upper = np.nanmax(inv.height_m) + 15.0 if np.any(measured_h) else 90.0
            h_meas = _truncated_normal(gen, inv.height_m, measured_height_sd, H_MIN, h_upper)
            h_pred = hd.sample(d, gen)
            h = np.where(measured_h, h_meas, h_pred)
        residual = gen.normal(0.0, CHAVE2014_RSE, n_trees) if sources.allometry else 0.0
        agb = _tree_agb_kg(rho, d, h, residual) * ef
        out[:, k] = np.bincount(inv.tree_plot, weights=agb, minlength=inv.n_plots)
    return out


def error_budget(
    inv: Inventory,
    hd: HeightModel,
    strata: list[str],
    n: int,
    seed: int,
    between_plot_var: np.ndarray,
    carbon_fraction: tuple[float, float],
    root_shoot: tuple[float, float],
    measured_height_sd: float = 0.0,
) -> dict[str, np.ndarray]:
    """Share of each error source in the variance of a stratum's mean carbon density.

    First-order decomposition on the log scale (relative variances add for
    products of independent factors): for each tree-level source, the mean over
    the stratum's plots of the plot's log-AGB variance with only that source on,
    divided by the number of plots (errors are independent between plots); the
    sampling variance ``tau_s^2 / n_s`` (between-plot variance of the fitted
    model); and the relative variances of the carbon fraction and of (1 + R).

    Returns
    -------
    dict of str to ndarray
        Variance contribution per source, shape (n_strata,), keys ``allometry``,
        ``diameter``, ``wood_density``, ``height``, ``sampling``,
        ``carbon_fraction``, ``root_shoot``; and ``total`` (their sum).
    """
    index = {s: i for i, s in enumerate(strata)}
    plot_s = np.array([index[s] for s in inv.plot_stratum])
    n_plots = np.bincount(plot_s, minlength=len(strata))
    out: dict[str, np.ndarray] = {}
    for k, name in enumerate(("allometry", "diameter", "wood_density", "height")):
        draws = plot_agb_draws(inv, hd, n, seed + k, ErrorSources.only(name), measured_height_sd)
        var = np.log(draws).var(axis=1, ddof=1)
        out[name] = np.bincount(plot_s, weights=var, minlength=len(strata)) / n_plots**2
    out["sampling"] = np.asarray(between_plot_var) / n_plots
    cf_mean, cf_sd = carbon_fraction
    rs_mean, rs_sd = root_shoot
    out["carbon_fraction"] = np.full(len(strata), (cf_sd / cf_mean) ** 2)
    out["root_shoot"] = np.full(len(strata), (rs_sd / (1 + rs_mean)) ** 2)
    out["total"] = np.sum(list(out.values()), axis=0)
    return out
