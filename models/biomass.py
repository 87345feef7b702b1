"""Stratum mean carbon density from plot inventories (hierarchical log-normal).

Model (per plot p in stratum s[p], log scale)::

    y_p      = log(AGB_p)                      observed plot AGB density (Mg/ha)
    m_p      = sqrt(log(1 + (sd_p / AGB_p)^2)) plot's allometric/measurement SD (known)
    mu_s     ~ N(mu_0, sigma_s), mu_0 ~ N(m_0, s_0)      partial pooling across strata
             (mu ~ MvN(m_0 1, sigma_s^2 I + s_0^2 J) with mu_0 integrated out; one
             stratum: mu ~ N(m_0, s_0), no grand mean or sigma_s to pool with)
    y_p      ~ N(mu_s[p], sqrt(tau_s[p]^2 + m_p^2))      between-plot + measurement error
    AGB_s    = exp(mu_s + tau_s^2 / 2)                   stratum mean AGB (Mg/ha)
    C_s      = AGB_s * (1 + R) * CF * 44/12              stratum mean carbon (tCO2e/ha)

with CF ~ N(0.47, 0.0206) and R ~ N(0.37, 0.04) truncated to [0.27, 0.44]
(priors from the run configuration). The plot's true density is marginalised
out, and so are the grand mean ``mu_0`` and the stratum means: given the
variances ``sigma_s`` and ``tau_s`` the plots' log densities are jointly normal
(:func:`build_model`), so NUTS samples only the variances and the two factors,
a posterior without the funnels of a hierarchy. A centred ``mu_s`` had
divergences when the data pin each stratum weakly (a large ``tau_s``) or the
strata are alike (a small ``sigma_s``): 6 of 20 prior-drawn Los Amigos designs
at the run's sampler settings; a non-centred one has them in the opposite case.
The means ``mu_s``, then ``mu_0``, are drawn after sampling from their exact
normal conditionals (:func:`draw_stratum_means`, :func:`draw_mu_0`). Pooling goes
as far as the data support: ``sigma_s`` is estimated, so strata as different as
Los Amigos's four (terra firme to palm swamp) are pooled little (the posterior
``sigma_s`` is large beside each stratum mean's standard error) and the
stratum means stay close to their own plots' (compare the design-based means of
:func:`design_based_means`).

Design-based stratum means (Cochran 1977, Eq. 5.1 and 5.3 without the
finite-population correction: ``ybar_s`` and ``s_s / sqrt(n_s)`` over the plots
of stratum s) are reported beside the posterior (:func:`design_based_means`).

Alternatively (``[data] carbon_stocks``), the stratum carbon density comes from
carbon stocks per stratum and pool that were estimated elsewhere and are given
with their standard deviation (e.g. imported from a FAO mocaredd workbook). Each
stated stock is taken as the distribution of that quantity, a normal truncated at
zero (a stock cannot be negative), and combined as mocaredd combines pools
(:func:`stock_carbon_tc`); :func:`build_stock_model` samples it with the same
NUTS contract as the inventory model, so diagnostics, the gate and the report
treat both alike.

References
----------
Chave, J. et al. (2014) Global Change Biology 20:3177 (plot AGB);
IPCC (2006) Guidelines Vol. 4 Ch. 4, Tables 4.3 (CF) and 4.4 (R);
Gelman, A. & Hill, J. (2007) Data Analysis Using Regression and
Multilevel/Hierarchical Models, Ch. 12 (partial pooling);
FAO Open Foris mocaredd, ``R/fct_make_formula.R`` (pool formula
``(AGB + BGB) * CF + DW + LI + SOC``, BGB = AGB * RS).
"""

from __future__ import annotations

import functools

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from models.allometry import CO2_PER_C, biomass_to_co2e
from models.sampling import replicate, sample
from models.settings import Biomass, Sampler

__all__ = [
    "FREE_PARAMETERS",
    "HYPERPRIORS",
    "plot_log_data",
    "design_based_means",
    "draw_mu_0",
    "draw_stratum_means",
    "complete_posterior",
    "posterior_predictive",
    "build_model",
    "fit_plots",
    "STOCK_FREE_PARAMETERS",
    "stock_carbon_tc",
    "build_stock_model",
    "fit_stocks",
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


def design_based_means(strata: list[str], plot_stratum, agb_mg_ha) -> dict[str, np.ndarray]:
    """Design-based mean AGB per stratum and its standard error (Cochran 1977, §5.2-5.3).

    ``mean_s = sum_p y_p / n_s`` and ``se_s = s_s / sqrt(n_s)`` (simple random sampling
    within the stratum, no finite-population correction: plots are a negligible share
    of the stratum's area). ``se`` is NaN for a stratum with fewer than two plots.

    Returns
    -------
    dict with arrays over ``strata``: ``n``, ``mean``, ``se`` (Mg/ha).
    """
    plot_stratum = np.asarray(plot_stratum)
    y = np.asarray(agb_mg_ha, dtype=float)
    n, mean, se = [], [], []
    for name in strata:
        v = y[plot_stratum == name]
        n.append(v.size)
        mean.append(v.mean() if v.size else np.nan)
        se.append(v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else np.nan)
    return {"n": np.array(n), "mean": np.array(mean), "se": np.array(se)}


def draw_mu_0(mu_stratum: np.ndarray, sigma_stratum: np.ndarray, seed: int) -> np.ndarray:
    """Grand mean ``mu_0`` given the stratum means: its exact normal conditional.

    With ``mu_s ~ N(mu_0, sigma_s)`` and ``mu_0 ~ N(m_0, s_0)`` (:data:`HYPERPRIORS`),
    ``mu_0 | mu, sigma_s`` is normal with precision ``1/s_0^2 + k/sigma_s^2`` and mean
    ``(m_0/s_0^2 + sum_s mu_s/sigma_s^2) / precision`` (conjugate normal, Gelman et al.
    2013 *Bayesian Data Analysis* §5.4).

    Parameters
    ----------
    mu_stratum : array, shape (..., k)
    sigma_stratum : array, shape (...)
    """
    m0, s0 = HYPERPRIORS["mu_0"]
    mu = np.asarray(mu_stratum, dtype=float)
    var = np.maximum(np.asarray(sigma_stratum, dtype=float), 1e-300) ** 2
    precision = 1.0 / s0**2 + mu.shape[-1] / var
    mean = (m0 / s0**2 + mu.sum(axis=-1) / var) / precision
    z = np.random.default_rng([seed, 0x6D75]).standard_normal(mean.shape)
    return mean + z / np.sqrt(precision)


def _stratum_cov(sigma_stratum, k: int):
    """Prior covariance of the stratum means, ``mu_0`` integrated out.

    ``mu_s = mu_0 + sigma_s z_s`` with ``mu_0 ~ N(m_0, s_0)``: ``sigma_s^2 I + s_0^2 J``
    (k > 1); ``s_0^2`` for one stratum, whose mean takes the grand mean's prior.
    Works on NumPy arrays (a leading sample axis in ``sigma_stratum``) and on tensors.
    """
    s0 = HYPERPRIORS["mu_0"][1]
    if k == 1:
        return np.full((1, 1), s0**2)
    sigma = (
        sigma_stratum[..., None, None] if isinstance(sigma_stratum, np.ndarray) else sigma_stratum
    )
    return sigma**2 * np.eye(k) + s0**2 * np.ones((k, k))


def build_model(
    strata: list[str],
    plot_stratum: np.ndarray,
    agb_mg_ha,
    agb_sd_mg_ha,
    priors: Biomass,
    explicit_means: bool = False,
) -> pm.Model:
    """PyMC model of stratum mean carbon density.

    By default the model NUTS samples: the stratum means are integrated out, so its
    free parameters are ``sigma_stratum`` (k > 1), ``tau``, ``carbon_fraction`` and
    ``root_shoot``, and the plots' log densities are jointly normal,
    ``y ~ N(m_0 1, D + Z C Z')`` with ``D = diag(tau_s[p]^2 + m_p^2)``, ``Z`` the
    plot-to-stratum incidence and ``C`` :func:`_stratum_cov` (Gelman et al. 2013, *Bayesian
    Data Analysis* §5.4: the hierarchical normal model's marginal
    posterior of its variances). No funnel is left for NUTS: the means, the parameters
    whose scale the variances set, are not sampled. :func:`draw_stratum_means` then
    draws them from their exact normal conditional, and :func:`fit_plots` returns them
    with the carbon densities.

    ``explicit_means=True`` builds the same joint distribution with ``mu_stratum`` a
    random variable and the plots independent given it: the generative form, whose
    prior draws (``pymc.draw``) give true means and data for calibration.

    Parameters
    ----------
    strata : list of str
        Stratum names (the ``stratum`` coordinate).
    plot_stratum : array of str, shape (n_plots,)
        Stratum of each plot.
    agb_mg_ha, agb_sd_mg_ha : array, shape (n_plots,)
        Plot AGB density (Mg/ha) and its SD from allometric and measurement error.
    priors : models.settings.Biomass
        Carbon fraction and root:shoot priors.
    explicit_means : bool
        The generative form (see above) instead of the sampled one.
    """
    index = np.array([strata.index(s) for s in plot_stratum])
    y, m = plot_log_data(agb_mg_ha, agb_sd_mg_ha)
    k = len(strata)
    m0 = HYPERPRIORS["mu_0"][0]
    coords = {"stratum": strata, "plot": np.arange(len(y))}
    with pm.Model(coords=coords) as model:
        s_idx = pm.Data("stratum_index", index, dims="plot")
        meas_sd = pm.Data("log_measurement_sd", m, dims="plot")
        # One stratum: nothing to pool across. A grand mean and a between-strata SD
        # would be unidentified (a funnel for NUTS), so the stratum mean takes the
        # grand mean's prior directly.
        sigma_stratum = (
            pm.HalfNormal("sigma_stratum", HYPERPRIORS["sigma_stratum"]) if k > 1 else None
        )
        tau = pm.HalfNormal("tau", HYPERPRIORS["tau"], dims="stratum")
        if explicit_means:
            cov = _stratum_cov(sigma_stratum, k)
            mu = pm.MvNormal("mu_stratum", mu=np.full(k, m0), cov=cov, dims="stratum")
            pm.Normal(
                "log_agb",
                mu=mu[s_idx],
                sigma=pm.math.sqrt(tau[s_idx] ** 2 + meas_sd**2),
                observed=y,
                dims="plot",
            )
        else:
            variance = tau[s_idx] ** 2 + meas_sd**2
            pm.CustomDist(
                "log_agb",
                variance,
                sigma_stratum if k > 1 else pt.zeros(()),
                logp=functools.partial(_marginal_logp, incidence=np.eye(k)[index], m0=m0),
                observed=y,
                dims="plot",
            )
        cf = priors.carbon_fraction
        carbon_fraction = pm.Normal("carbon_fraction", cf.mean, cf.sd)
        rs = priors.root_shoot
        root_shoot = pm.TruncatedNormal(
            "root_shoot", rs.mean, rs.sd, lower=rs.lower, upper=rs.upper
        )
        if explicit_means:
            agb = pm.Deterministic("agb_mg_ha", pm.math.exp(mu + tau**2 / 2), dims="stratum")
            pm.Deterministic("agb_tco2e_ha", agb * carbon_fraction * CO2_PER_C, dims="stratum")
            pm.Deterministic(
                "carbon_tco2e_ha",
                biomass_to_co2e(agb, carbon_fraction, root_shoot),
                dims="stratum",
            )
    return model


def _marginal_logp(y, variance, sigma_stratum, incidence, m0):
    """Log density of the plots' log AGB with the stratum means integrated out.

    ``y ~ N(m_0 1, D + Z C Z')``, ``D = diag(variance)`` (``d_p``), ``Z`` the plots'
    stratum ``incidence`` (n x k), ``C = sigma^2 I + s_0^2 J`` (:func:`_stratum_cov`;
    ``sigma = 0`` for one stratum, whose ``C = s_0^2``). The Woodbury identity and the
    matrix determinant lemma (Harville 1997, *Matrix Algebra from a Statistician's
    Perspective*, Ch. 18), applied once to ``sigma^2 I`` and once more to
    the rank-one ``s_0^2 J``, give with ``a_s = sum_{p in s} 1/d_p``,
    ``b_s = sum_{p in s} r_p/d_p`` (``r = y - m_0``), ``u_s = 1 + sigma^2 a_s``::

        log|D + Z C Z'| = sum log d_p + sum log u_s + log(1 + s_0^2 sum a_s/u_s)
        r' (D + Z C Z')^-1 r = sum r_p^2/d_p - sigma^2 sum b_s^2/u_s
                               - s_0^2 (sum b_s/u_s)^2 / (1 + s_0^2 sum a_s/u_s)

    Every term is a sum of positive parts, with no ``1/sigma^2``: the density is exact
    and smooth down to ``sigma = 0`` (the form with ``C^-1`` cancels catastrophically
    there, and NUTS diverged on it), and each evaluation is O(n k), elementwise.
    """
    s0sq = HYPERPRIORS["mu_0"][1] ** 2
    s2 = sigma_stratum**2
    r = y - m0
    w = 1.0 / variance
    a = pt.dot(w, incidence)
    b = pt.dot(w * r, incidence)
    u = 1.0 + s2 * a
    pooled = 1.0 + s0sq * pt.sum(a / u)
    logdet = pt.sum(pt.log(variance)) + pt.sum(pt.log(u)) + pt.log(pooled)
    quad = pt.sum(w * r**2) - s2 * pt.sum(b**2 / u) - s0sq * pt.sum(b / u) ** 2 / pooled
    return -0.5 * (y.shape[0] * np.log(2 * np.pi) + logdet + quad)


def draw_stratum_means(sigma_stratum, tau, plot_index, log_agb, log_sd, seed: int) -> np.ndarray:
    """Stratum log means given the variances and the plots: their exact normal conditional.

    Prior ``mu ~ N(m_0 1, C)`` (:func:`_stratum_cov`); plots ``y_p ~ N(mu_s[p], v_p)``
    with ``v_p = tau_s[p]^2 + m_p^2``, so stratum s's data are ``a_s = sum_{p in s} 1/v_p``
    and ``b_s = sum_{p in s} y_p/v_p``. One draw per posterior draw of the variances, by
    conditioning a joint prior draw (Matheron's rule; Doucet 2010, "A note on efficient
    conditional simulation of Gaussian distributions"): ``mu* ~ N(m_0 1, C)``, then::

        mu = mu* + C (I + A C)^-1 (b - A mu* - sqrt(A) e),   A = diag(a), e ~ N(0, I)

    which has the conditional's mean and covariance (Gelman et al. 2013, *Bayesian Data
    Analysis* §3.5). ``C = sigma^2 I + s_0^2 J`` is drawn as ``sigma z + s_0 z_0`` and
    never inverted, so the draw is exact down to ``sigma = 0`` and for a stratum
    without plots (``a_s = 0``: its prior).

    Parameters
    ----------
    sigma_stratum : array, shape (n,) or None
        None for one stratum.
    tau : array, shape (n, k)
    plot_index : int array, shape (n_plots,)
    log_agb, log_sd : arrays, shape (n_plots,)
        :func:`plot_log_data` of the plots.
    seed : int

    Returns
    -------
    ndarray, shape (n, k)
    """
    tau = np.asarray(tau, dtype=float)
    n, k = tau.shape
    m0, s0 = HYPERPRIORS["mu_0"]
    weight = 1.0 / (tau[:, plot_index] ** 2 + np.asarray(log_sd) ** 2)  # (n, n_plots)
    onehot = np.eye(k)[plot_index]  # (n_plots, k)
    a = weight @ onehot
    b = (weight * np.asarray(log_agb)) @ onehot
    sigma = np.zeros(n) if sigma_stratum is None else np.asarray(sigma_stratum, dtype=float)
    cov = np.broadcast_to(_stratum_cov(sigma, k), (n, k, k))
    z = np.random.default_rng([seed, 0x6D73]).standard_normal((3, n, k))
    prior = m0 + sigma[:, None] * z[0] + s0 * z[1, :, :1] if k > 1 else m0 + s0 * z[1]
    innovation = b - a * prior - np.sqrt(a) * z[2]
    gain = np.linalg.solve(np.eye(k) + a[:, :, None] * cov, innovation[..., None])
    return prior + (cov @ gain)[..., 0]


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
    plot_stratum = np.asarray(plot_stratum)
    model = build_model(strata, plot_stratum, agb_mg_ha, agb_sd_mg_ha, priors)
    tree = sample(model, sampler, seed)
    y, m = plot_log_data(agb_mg_ha, agb_sd_mg_ha)
    tree["posterior"] = complete_posterior(
        tree.posterior.to_dataset(), strata, plot_stratum, y, m, seed
    )
    return tree


def complete_posterior(
    post: xr.Dataset, strata: list[str], plot_stratum, log_agb, log_sd, seed: int
) -> xr.Dataset:
    """The sampled variances' posterior with the stratum means and carbon densities added.

    ``mu_stratum`` by :func:`draw_stratum_means`, ``mu_0`` by :func:`draw_mu_0` (k > 1), and
    the deterministic ``agb_mg_ha = exp(mu_s + tau_s^2 / 2)``, ``agb_tco2e_ha`` and
    ``carbon_tco2e_ha`` (:func:`models.allometry.biomass_to_co2e`). ``log_agb`` and
    ``log_sd`` are the plots' :func:`plot_log_data`.
    """
    post = post.transpose("chain", "draw", ...)
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    index = np.array([strata.index(s) for s in np.asarray(plot_stratum)])
    k = len(strata)
    tau = post["tau"].values.reshape(-1, k)
    sigma = post["sigma_stratum"].values.reshape(-1) if k > 1 else None
    mu = draw_stratum_means(sigma, tau, index, log_agb, log_sd, seed)
    cf = post["carbon_fraction"].values.reshape(-1, 1)
    rs = post["root_shoot"].values.reshape(-1, 1)
    agb = np.exp(mu + tau**2 / 2)
    dims = ("chain", "draw", "stratum")
    shape = (chains, draws, k)
    out = post.assign(
        mu_stratum=(dims, mu.reshape(shape)),
        agb_mg_ha=(dims, agb.reshape(shape)),
        agb_tco2e_ha=(dims, (agb * cf * CO2_PER_C).reshape(shape)),
        carbon_tco2e_ha=(dims, biomass_to_co2e(agb, cf, rs).reshape(shape)),
    )
    if k > 1:
        out = out.assign(
            mu_0=(("chain", "draw"), draw_mu_0(mu, sigma, seed).reshape(chains, draws))
        )
    return out


def posterior_predictive(
    tree: xr.DataTree,
    strata: list[str],
    plot_stratum,
    agb_mg_ha,
    agb_sd_mg_ha,
    priors: Biomass,
    seed: int,
) -> np.ndarray:
    """Replicated plot log AGB from the posterior: one new plot value per posterior draw.

    The likelihood's own generative form (:func:`build_model` with ``explicit_means``),
    ``y_rep_p ~ N(mu_s[p], sqrt(tau_s[p]^2 + m_p^2))``, forward-sampled by
    :func:`pymc.sample_posterior_predictive` given each draw of ``mu_stratum`` and ``tau``
    (and the other free parameters, kept as drawn): between-plot spread and the plot's
    measurement error ``m_p`` (:func:`plot_log_data`), as the observed plots have both.

    Parameters
    ----------
    tree : DataTree
        Result of :func:`fit_plots` (``mu_stratum`` in its posterior).
    strata, plot_stratum, agb_mg_ha, agb_sd_mg_ha, priors
        As given to :func:`fit_plots`.
    seed : int
        Generator ``[seed, 0x5042]``.

    Returns
    -------
    ndarray, shape (n_samples, n_plots)
        Log AGB (log Mg/ha), chain-major.
    """
    model = build_model(
        strata, np.asarray(plot_stratum), agb_mg_ha, agb_sd_mg_ha, priors, explicit_means=True
    )
    return replicate(model, tree, "log_agb", np.random.default_rng([seed, 0x5042]))


# --------------------------------------------------------------------------- carbon stocks

#: Parameters of the carbon-stock model whose convergence gates the run.
STOCK_FREE_PARAMETERS = ["stock", "carbon_fraction"]


def stock_carbon_tc(pools: dict, units: dict, carbon_fraction=None):
    """Total carbon stock (tC/ha) of one land-use class from its pools.

    ``C = AGB_c + BGB_c + DW + LI + SOC`` where ``X_c = X * CF`` for a pool in
    dry matter (``tDM/ha``) and ``X`` for one in carbon (``tC/ha``), and
    ``BGB_c = AGB_c * RS`` when a root:shoot ratio is given instead of BGB. Pools
    not given are not counted (as in mocaredd).

    Parameters
    ----------
    pools : dict of str to array_like or tensor
        Stock per pool name (``AGB``, ``BGB``, ``RS``, ``DW``, ``LI``, ``SOC``).
    units : dict of str to str
        Unit per pool: ``tC/ha``, ``tDM/ha`` (AGB, BGB) or ``ratio`` (RS).
    carbon_fraction : array_like or tensor, optional
        Carbon fraction of dry matter; needed when a pool is in ``tDM/ha``.

    Returns
    -------
    array or tensor
        tC/ha.

    References
    ----------
    FAO Open Foris mocaredd, ``R/fct_make_formula.R`` and ``R/fct_combine_mcs_cpools.R``;
    IPCC (2006) Guidelines Vol. 4 Ch. 2, Eq. 2.16 and Table 4.4 (BGB from R).
    """

    def carbon(pool):
        if units[pool] == "tDM/ha":
            if carbon_fraction is None:
                raise ValueError(f"pool {pool} is in tDM/ha: a carbon fraction is needed")
            return pools[pool] * carbon_fraction
        return pools[pool]

    agb = carbon("AGB")
    total = agb
    if "BGB" in pools:
        total = total + carbon("BGB")
    elif "RS" in pools:
        total = total + agb * pools["RS"]
    for pool in ("DW", "LI", "SOC"):
        if pool in pools:
            total = total + pools[pool]
    return total


def build_stock_model(strata: list[str], stocks: dict[str, np.ndarray], priors: Biomass):
    """PyMC model of stratum carbon density from stated carbon stocks.

    Parameters
    ----------
    strata : list of str
        Stratum names (the ``stratum`` coordinate).
    stocks : dict of str to ndarray
        Columns of ``carbon_stocks.csv``: ``stratum``, ``pool``, ``unit``, ``mean``, ``sd``.
    priors : models.settings.Biomass
        ``carbon_fraction`` is used when a pool is in dry matter.
    """
    stratum, pool, unit = (np.asarray(stocks[k]).tolist() for k in ("stratum", "pool", "unit"))
    entries = [f"{s}/{p}" for s, p in zip(stratum, pool, strict=True)]
    coords = {"stratum": strata, "entry": entries}
    with pm.Model(coords=coords) as model:
        # A stock cannot be negative: the stated normal, truncated at zero.
        stock = pm.TruncatedNormal(
            "stock",
            mu=np.asarray(stocks["mean"], dtype=float),
            sigma=np.asarray(stocks["sd"], dtype=float),
            lower=0.0,
            dims="entry",
        )
        cf = None
        if "tDM/ha" in unit:
            prior = priors.carbon_fraction
            cf = pm.TruncatedNormal("carbon_fraction", prior.mean, prior.sd, lower=0, upper=1)
        totals, agbs = [], []
        for name in strata:
            rows = [i for i, s in enumerate(stratum) if s == name]
            pools = {pool[i]: stock[i] for i in rows}
            units = {pool[i]: unit[i] for i in rows}
            totals.append(stock_carbon_tc(pools, units, cf))
            agbs.append(stock_carbon_tc({"AGB": pools["AGB"]}, {"AGB": units["AGB"]}, cf))
        pm.Deterministic("agb_tco2e_ha", pt.stack(agbs) * CO2_PER_C, dims="stratum")
        pm.Deterministic("carbon_tco2e_ha", pt.stack(totals) * CO2_PER_C, dims="stratum")
    return model


def fit_stocks(
    strata: list[str], stocks: dict[str, np.ndarray], priors: Biomass, sampler: Sampler, seed: int
) -> xr.DataTree:
    """Sample :func:`build_stock_model`.

    Returns
    -------
    xarray.DataTree
        With ``posterior.carbon_tco2e_ha`` (chain, draw, stratum): stratum carbon
        density in tCO2e/ha (the pools given), and ``posterior.agb_tco2e_ha``.
    """
    return sample(build_stock_model(strata, stocks, priors), sampler, seed)
