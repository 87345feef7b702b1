"""Stratum mean carbon density from plot inventories (hierarchical log-normal).

Model (per plot p in stratum s[p], log scale)::

    y_p      = log(AGB_p)                      observed plot AGB density (Mg/ha)
    m_p      = sqrt(log(1 + (sd_p / AGB_p)^2)) plot's allometric/measurement SD (known)
    mu_s     ~ N(mu_0, sigma_s)                          partial pooling across strata
    y_p      ~ N(mu_s[p], sqrt(tau_s[p]^2 + m_p^2))      between-plot + measurement error
    AGB_s    = exp(mu_s + tau_s^2 / 2)                   stratum mean AGB (Mg/ha)
    C_s      = AGB_s * (1 + R) * CF * 44/12              stratum mean carbon (tCO2e/ha)

with CF ~ N(0.47, 0.0206) and R ~ N(0.37, 0.04) truncated to [0.27, 0.44]
(priors from the run configuration). The plot's true density is marginalised
out, which keeps NUTS efficient with few plots per stratum.

References
----------
Chave, J. et al. (2014) Global Change Biology 20:3177 (plot AGB);
IPCC (2006) Guidelines Vol. 4 Ch. 4, Tables 4.3 (CF) and 4.4 (R);
Gelman, A. & Hill, J. (2007) Data Analysis Using Regression and
Multilevel/Hierarchical Models, Ch. 12 (partial pooling).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import xarray as xr

from models.allometry import CO2_PER_C, biomass_to_co2e
from models.inventory import Inventory, plot_agb_draws
from models.sampling import sample
from simulator.config import Biomass, Sampler

__all__ = [
    "FREE_PARAMETERS",
    "HYPERPRIORS",
    "plot_log_data",
    "build_model",
    "fit",
    "fit_plots",
]

#: Parameters whose convergence gates the run.
FREE_PARAMETERS = ["mu_0", "sigma_stratum", "mu_stratum", "tau", "carbon_fraction", "root_shoot"]

#: Weakly informative hyperpriors (log scale of Mg/ha AGB).
HYPERPRIORS = {
    "mu_0": (np.log(250.0), 1.0),  # Normal(mean, sd): 250 Mg/ha, a factor e either way
    "sigma_stratum": 0.5,  # HalfNormal sd: strata differ by tens of percent
    "tau": 0.5,  # HalfNormal sd: between-plot CV of old growth is ~20-30%
}


def plot_log_data(agb_mg_ha: np.ndarray, agb_sd_mg_ha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log plot density and its log-scale SD (moment-matched log-normal)."""
    agb = np.asarray(agb_mg_ha, dtype=float)
    sd = np.asarray(agb_sd_mg_ha, dtype=float)
    return np.log(agb), np.sqrt(np.log1p((sd / agb) ** 2))


def build_model(
    strata: list[str], plot_stratum: np.ndarray, agb_mg_ha, agb_sd_mg_ha, priors: Biomass
) -> pm.Model:
    """PyMC model of stratum mean carbon density.

    Parameters
    ----------
    strata : list of str
        Stratum names (the ``stratum`` coordinate).
    plot_stratum : array of str, shape (n_plots,)
        Stratum of each plot.
    agb_mg_ha, agb_sd_mg_ha : array, shape (n_plots,)
        Plot AGB density (Mg/ha) and its SD from allometric and measurement error.
    priors : simulator.config.Biomass
        Carbon fraction and root:shoot priors.
    """
    index = np.array([strata.index(s) for s in plot_stratum])
    y, m = plot_log_data(agb_mg_ha, agb_sd_mg_ha)
    coords = {"stratum": strata, "plot": np.arange(len(y))}
    with pm.Model(coords=coords) as model:
        s_idx = pm.Data("stratum_index", index, dims="plot")
        meas_sd = pm.Data("log_measurement_sd", m, dims="plot")
        mu_0 = pm.Normal("mu_0", *HYPERPRIORS["mu_0"])
        sigma_stratum = pm.HalfNormal("sigma_stratum", HYPERPRIORS["sigma_stratum"])
        # Centred: each stratum has enough plots that the data dominate its mean.
        mu = pm.Normal("mu_stratum", mu_0, sigma_stratum, dims="stratum")
        tau = pm.HalfNormal("tau", HYPERPRIORS["tau"], dims="stratum")
        pm.Normal(
            "log_agb",
            mu=mu[s_idx],
            sigma=pm.math.sqrt(tau[s_idx] ** 2 + meas_sd**2),
            observed=y,
            dims="plot",
        )
        cf = priors.carbon_fraction
        carbon_fraction = pm.Normal("carbon_fraction", cf.mean, cf.sd)
        rs = priors.root_shoot
        root_shoot = pm.TruncatedNormal(
            "root_shoot", rs.mean, rs.sd, lower=rs.lower, upper=rs.upper
        )
        agb = pm.Deterministic("agb_mg_ha", pm.math.exp(mu + tau**2 / 2), dims="stratum")
        pm.Deterministic("agb_tco2e_ha", agb * carbon_fraction * CO2_PER_C, dims="stratum")
        pm.Deterministic(
            "carbon_tco2e_ha", biomass_to_co2e(agb, carbon_fraction, root_shoot), dims="stratum"
        )
    return model


def fit(
    inventory: Inventory,
    strata: list[str],
    priors: Biomass,
    sampler: Sampler,
    seed: int,
    n_monte_carlo: int = 1000,
    measured_height_sd: float = 0.0,
) -> xr.DataTree:
    """Stratum carbon density from a tree inventory: tree-level Monte Carlo, then NUTS.

    Fits the H-D model to the measured heights, propagates tree-level errors to
    each plot's AGB (:func:`models.inventory.plot_agb_draws`) and samples
    :func:`build_model` on the plots' Monte Carlo means and SDs.

    Returns
    -------
    xarray.DataTree
        As :func:`fit_plots`, with the plots' Monte Carlo AGB mean and SD (Mg/ha)
        in ``constant_data``.
    """
    hd = inventory.height_model()
    draws = plot_agb_draws(
        inventory, hd, n_monte_carlo, seed, measured_height_sd=measured_height_sd
    )
    mean, sd = draws.mean(axis=1), draws.std(axis=1, ddof=1)
    tree = fit_plots(strata, inventory.plot_stratum, mean, sd, priors, sampler, seed)
    tree["constant_data"] = (
        tree["constant_data"]
        .to_dataset()
        .assign(plot_agb_mc_mean=("plot", mean), plot_agb_mc_sd=("plot", sd))
    )
    return tree


def fit_plots(
    strata: list[str],
    plot_stratum,
    agb_mg_ha,
    agb_sd_mg_ha,
    priors: Biomass,
    sampler: Sampler,
    seed: int,
) -> xr.DataTree:
    """Sample the posterior of :func:`build_model` from plot AGB densities and their SDs.

    Returns
    -------
    xarray.DataTree
        With ``posterior.carbon_tco2e_ha`` (chain, draw, stratum): stratum mean
        carbon density in tCO2e/ha (above- and below-ground).
    """
    model = build_model(strata, np.asarray(plot_stratum), agb_mg_ha, agb_sd_mg_ha, priors)
    return sample(model, sampler, seed)
