"""Annual deforestation rate in the reference region, and the project scenario.

Rate model (year t of the reference period, t0 its first year)::

    log r_t  = a + b (t - t0) + c h_t + sigma eps_t,   eps_t ~ N(0, 1)
    obs_t    ~ N(100 r_t, 100 se_t / F_t)              observed loss as % of forest

where ``obs_t = 100 loss_t / F_t`` is the map-derived loss as a percentage of
the forest at the start of year t, ``se_t`` the map-accuracy standard error of
the loss (Olofsson et al. 2014), and ``h_t`` the highway covariate
(:func:`highway_covariate`). The measurement error enters the likelihood, the
process noise ``sigma`` the latent rate, so the two are told apart.

Projected rates for the crediting period use the same mean curve
(:func:`log_rate_mean`) with fresh process noise drawn in the simulation kernel.
With ``projection = "constant"`` the trend term is held at the last reference
year (no extrapolated growth: the conservative choice); with ``"trend"`` it
continues.

Allocated baseline (``baseline = "allocated"``, the VM0048 shape): the project's
baseline loss is a jurisdiction's projected annual loss ``J`` (Gamma with the
configured mean and SD) times the project's share of deforestation risk ``s``
(Beta), both uncertain; the simulation spreads ``J s`` ha/yr over the strata.

The project scenario's parameters are in the same model: the effectiveness
``e`` of the project at stopping baseline deforestation (Beta prior) and the
carbon stock remaining after conversion ``C_post`` (Gamma with the configured
mean and SD).

References
----------
Olofsson, P. et al. (2014) Good practices for estimating area and assessing
accuracy of land change. Remote Sensing of Environment 148:42-57.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import xarray as xr

from models.sampling import sample
from models.settings import Deforestation, Sampler

__all__ = [
    "FREE_PARAMETERS",
    "ALLOCATION_PARAMETERS",
    "HYPERPRIORS",
    "highway_covariate",
    "log_rate_mean",
    "projection_covariates",
    "build_model",
    "fit",
    "posterior_predictive",
]

FREE_PARAMETERS = ["a", "b", "c", "sigma", "effectiveness", "post_conversion_tco2e_ha"]
#: Extra parameters of an allocated baseline (present when the config has an allocation).
ALLOCATION_PARAMETERS = ["jurisdiction_loss_ha", "risk_share"]

HYPERPRIORS = {
    "a": (np.log(0.001), 1.5),  # Normal: 0.1 %/yr at t0, within a factor ~20
    "b": (0.0, 0.1),  # Normal: trend of log rate per year
    "c": (0.0, 1.0),  # Normal: highway effect on log rate
    "sigma": 0.5,  # HalfNormal: year-to-year process noise of log rate
}


def highway_covariate(years, paving: tuple[int, int]) -> np.ndarray:
    """Highway-paving covariate: 0 before paving, linear ramp during it, 1 after.

    Parameters
    ----------
    years : array_like of int
    paving : (first, last)
        First and last year of paving (Interoceanic highway through Madre de
        Dios: 2006-2011).
    """
    years = np.asarray(years, dtype=float)
    first, last = paving
    if last == first:
        return (years >= first).astype(float)
    return np.clip((years - first) / (last - first), 0.0, 1.0)


def log_rate_mean(a, b, c, trend_years, highway):
    """Mean log annual loss rate: ``a + b * trend_years + c * highway``.

    Broadcasts: pass ``a, b, c`` with a trailing axis (``[:, None]``) to get
    ``(n_draws, n_years)``.
    """
    return a + b * trend_years + c * highway


def projection_covariates(
    reference_years, crediting_years, settings: Deforestation
) -> tuple[np.ndarray, np.ndarray]:
    """Trend and highway covariates of the crediting years.

    Returns
    -------
    (trend_years, highway) : arrays of shape (n_crediting_years,)
    """
    ref = np.asarray(reference_years)
    years = np.asarray(crediting_years)
    if settings.projection == "constant":
        trend = np.full(years.shape, float(ref[-1] - ref[0]))
    else:
        trend = (years - ref[0]).astype(float)
    return trend, highway_covariate(years, settings.highway_paving)


def build_model(
    years, forest_area_ha, loss_ha, loss_se_ha, settings: Deforestation, monitoring=None
) -> pm.Model:
    """PyMC model of the reference-region loss rate and the project scenario.

    ``monitoring``, when given, is a dict of arrays ``expected_loss_ha`` (the loss the
    project area would have had without the project, e.g. from matched controls),
    ``observed_loss_ha`` and ``observed_se_ha``: the project's own monitored loss,
    which updates the effectiveness ``e`` through
    ``observed ~ N((1 - e) x expected, se)``.
    """
    years = np.asarray(years)
    forest = np.asarray(forest_area_ha, dtype=float)
    obs_pct = 100.0 * np.asarray(loss_ha, dtype=float) / forest
    se_pct = 100.0 * np.asarray(loss_se_ha, dtype=float) / forest
    with pm.Model(coords={"year": years}) as model:
        trend = pm.Data("trend_years", (years - years[0]).astype(float), dims="year")
        highway = pm.Data("highway", highway_covariate(years, settings.highway_paving), dims="year")
        a = pm.Normal("a", *HYPERPRIORS["a"])
        b = pm.Normal("b", *HYPERPRIORS["b"])
        c = pm.Normal("c", *HYPERPRIORS["c"])
        sigma = pm.HalfNormal("sigma", HYPERPRIORS["sigma"])
        eps = pm.Normal("eps", 0.0, 1.0, dims="year")
        log_rate = log_rate_mean(a, b, c, trend, highway) + sigma * eps
        rate_pct = pm.Deterministic("rate_pct", 100.0 * pm.math.exp(log_rate), dims="year")
        pm.Normal("loss_pct", mu=rate_pct, sigma=se_pct, observed=obs_pct, dims="year")
        eff = settings.effectiveness
        e = pm.Beta("effectiveness", eff.alpha, eff.beta)
        if monitoring is not None:
            expected = np.asarray(monitoring["expected_loss_ha"], dtype=float)
            pm.Normal(
                "project_loss_ha",
                mu=(1.0 - e) * expected,
                sigma=np.asarray(monitoring["observed_se_ha"], dtype=float),
                observed=np.asarray(monitoring["observed_loss_ha"], dtype=float),
            )
        post = settings.post_conversion_tco2e_ha
        pm.Gamma("post_conversion_tco2e_ha", mu=post.mean, sigma=post.sd)
        if settings.allocation is not None:
            alloc = settings.allocation
            j = alloc.jurisdiction_loss_ha
            pm.Gamma("jurisdiction_loss_ha", mu=j.mean, sigma=j.sd)
            pm.Beta("risk_share", alloc.risk_share.alpha, alloc.risk_share.beta)
    return model


def fit(
    years,
    forest_area_ha,
    loss_ha,
    loss_se_ha,
    settings: Deforestation,
    sampler: Sampler,
    seed: int,
    monitoring=None,
) -> xr.DataTree:
    """Sample the posterior of :func:`build_model`, with its prior predictive.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``observed_data`` and
        ``prior_predictive`` (500 draws of ``loss_pct`` from the priors).
    """
    model = build_model(years, forest_area_ha, loss_ha, loss_se_ha, settings, monitoring)
    tree = sample(model, sampler, seed)
    with model:
        prior = pm.sample_prior_predictive(draws=500, var_names=["loss_pct"], random_seed=seed)
    tree["prior_predictive"] = prior["prior_predictive"]
    return tree


def posterior_predictive(tree: xr.DataTree, loss_se_pct, seed: int) -> np.ndarray:
    """Replicated observations ``loss_pct`` from the posterior: latent rate + map error.

    Parameters
    ----------
    tree : DataTree
        Result of :func:`fit`.
    loss_se_pct : array, shape (n_years,)
        Standard error of each observed rate (% of forest).
    seed : int

    Returns
    -------
    ndarray, shape (n_samples, n_years)
    """
    rate = tree.posterior["rate_pct"].transpose("chain", "draw", "year").values
    rate = rate.reshape(-1, rate.shape[-1])
    gen = np.random.default_rng([seed, 0x5050])
    return rate + gen.normal(0.0, 1.0, rate.shape) * np.asarray(loss_se_pct)[None, :]
