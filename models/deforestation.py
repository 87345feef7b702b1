"""Annual deforestation hazard in the reference region, and the project scenario.

Rate model (year t of the reference period; cloglog link, DESIGN §3.4)::

    eta_t    = a + b x_t + c h_t + u_t                  log hazard
    r_t      = 1 - exp(-exp(eta_t))                     annual loss fraction, in (0, 1)
    y_t      = log(-log(1 - obs_t))                     observed loss fraction, cloglog scale
    y_t      ~ N(eta_t, s_t),  s_t = se_t / ((1 - obs_t) (-log(1 - obs_t)))

``x_t`` is the year centred on the reference period's mean year and ``h_t`` the
highway covariate (:func:`highway_covariate`) centred and orthogonalised to
``x`` (:func:`covariates`), so that ``a`` is the mean log hazard of the reference
period and the three coefficients are nearly uncorrelated a posteriori (Gelman &
Hill 2007 §4.2). ``obs_t = loss_t / F_t`` is the map-derived loss as a fraction
of the forest at the start of year t and ``se_t`` its map-accuracy standard
error as a fraction (Olofsson et al. 2014), carried to the cloglog scale by the
delta method (its relative error is ~10%, where the log-normal approximation is
close). The process noise ``u`` is independent between years
(``noise = "iid"``, ``u_t ~ N(0, sigma)``) or a stationary AR(1)
(``noise = "ar1"``, marginal SD ``sigma``, correlation ``phi^|i-j|``). Because
``y`` and ``u`` are both Gaussian on the log-hazard scale, the noise is
**integrated out**: ``y ~ N(mu, sigma^2 R(phi) + diag(s^2))`` (with the loss estimates'
covariance, e.g. a map's accuracy series pooled across years, in place of ``diag(s^2)``:
:func:`observed_log_hazard_cov`). The model has no
latent per-year parameters and so no funnel between ``sigma`` and the noise,
whichever of the map error and the process noise dominates (a centred latent
noise diverges when the map error is small beside ``sigma``, a non-centred one
when it is large). The measurement error and the process noise are still told
apart (one on the diagonal only, one with the AR structure and in the
projection). After sampling, the latent noise, the annual rates ``rate_pct``
(``100 r_t``) and the last year's noise (which starts an AR(1) projection) are
drawn from their exact Gaussian conditional given each posterior draw
(:func:`draw_noise`).

Projection: the crediting years use the same mean curve
(:func:`log_hazard_mean`) with process noise drawn in the simulation kernel,
carried from the last reference year through the gap years before the crediting
start (:func:`gap_years`; with AR(1) noise the last reference year's ``u`` starts
the path). With ``projection = "constant"`` the trend term is held at the last
reference year (no extrapolated growth: the conservative choice); with
``"trend"`` it continues. A stratum of relative risk ``w_s`` has log hazard
``eta_t + log w_s`` (a log offset).

Allocated baseline (``baseline = "allocated"``, the VM0048 shape): the project's
baseline loss is a jurisdiction's projected annual loss ``J`` (Gamma with the
configured mean and SD) times the project's share of deforestation risk ``s``
(Beta), both uncertain; the simulation spreads ``J s`` ha/yr over the strata.

The project scenario's parameters are in the same model: the effectiveness
``e`` of the project and the carbon stock remaining after conversion ``C_post``
(Gamma with the configured mean and SD). ``e`` is the fraction of the
*reference-region* hazard (the baseline the simulation multiplies) that the
project prevents, so its prior must come from evidence expressed against the
same counterfactual: avoided loss (matched controls minus project) over the
regional rate of the same years (``runs/los-amigos/README.md``). Its prior is a
Beta scaled to ``[lower, 1]``; ``lower < 0`` allows projects without effect.

References
----------
Olofsson, P. et al. (2014) Good practices for estimating area and assessing
accuracy of land change. Remote Sensing of Environment 148:42-57.
Papaspiliopoulos, O., Roberts, G. O. & Sköld, M. (2007) A general framework for
the parametrization of hierarchical models. Statistical Science 22:59-73.
Gelman, A. & Hill, J. (2007) Data Analysis Using Regression and
Multilevel/Hierarchical Models. Cambridge University Press.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy import stats

from models.sampling import sample
from models.settings import BetaPrior, Deforestation, Sampler

__all__ = [
    "FREE_PARAMETERS",
    "ALLOCATION_PARAMETERS",
    "HYPERPRIORS",
    "effectiveness_prior",
    "gamma_prior",
    "highway_covariate",
    "covariates",
    "log_hazard_mean",
    "projection_covariates",
    "gap_years",
    "observed_log_hazard",
    "observed_log_hazard_cov",
    "draw_noise",
    "build_model",
    "fit",
    "posterior_predictive",
    "pointwise_log_likelihood",
]

#: Parameters whose convergence gates the run (``phi`` only with AR(1) noise).
FREE_PARAMETERS = ["a", "b", "c", "sigma", "phi", "effectiveness", "post_conversion_tco2e_ha"]
#: Extra parameters of an allocated baseline (present when the config has an allocation).
ALLOCATION_PARAMETERS = ["jurisdiction_loss_ha", "risk_share"]

HYPERPRIORS = {
    "a": (np.log(0.002), 1.5),  # Normal: 0.2 %/yr over the reference period, a factor ~20
    "b": (0.0, 0.1),  # Normal: trend of the log hazard per year
    "c": (0.0, 1.0),  # Normal: highway effect on the log hazard
    "sigma": 0.5,  # HalfNormal: marginal SD of the process noise of the log hazard
    "phi": (2.0, 2.0),  # Beta of (phi + 1) / 2: AR(1) coefficient on (-1, 1)
}


def effectiveness_prior(prior: BetaPrior, lower: float | None = None):
    """The effectiveness prior, ``e = lower + (1 - lower) B`` with ``B ~ Beta(alpha, beta)``.

    A frozen :mod:`scipy.stats` distribution (its ``rvs`` draw the i.i.d. prior sample
    of a run without monitoring, its ``pdf`` is drawn in the report); ``lower`` defaults
    to the prior's own (``EffectivenessPrior.lower``, 0 for a plain Beta).
    :func:`build_model` writes the same prior in PyMC.
    """
    lower = getattr(prior, "lower", 0.0) if lower is None else lower
    return stats.beta(prior.alpha, prior.beta, loc=lower, scale=1.0 - lower)


def gamma_prior(mean: float, sd: float):
    """Gamma with the given mean and SD (shape ``(mean/sd)^2``, scale ``sd^2/mean``).

    A frozen :mod:`scipy.stats` distribution, the ``pm.Gamma(mu=mean, sigma=sd)`` of
    :func:`build_model` (the post-conversion carbon, the jurisdiction's loss).
    """
    return stats.gamma((mean / sd) ** 2, scale=sd**2 / mean)


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


def _transform(reference_years, settings: Deforestation) -> tuple[float, float, float]:
    """Centre of the years, mean highway covariate and slope ``k`` over the reference period."""
    ref = np.asarray(reference_years, dtype=float)
    x = ref - ref.mean()
    hw = highway_covariate(ref, settings.highway_paving)
    denom = float(x @ x)
    slope = float(x @ (hw - hw.mean())) / denom if denom > 0 else 0.0
    return float(ref.mean()), float(hw.mean()), slope


def covariates(years, reference_years, settings: Deforestation) -> tuple[np.ndarray, np.ndarray]:
    """Centred trend and centred, orthogonalised highway covariates of ``years``.

    The transform is fixed by the reference period: ``x = year - mean(ref)``;
    ``h = hw(year) - mean(hw(ref)) - k x`` with ``k`` the least-squares slope of
    the centred highway covariate on ``x`` over the reference years (so ``h`` is
    orthogonal to ``x`` there). Any year (reference or crediting) maps through the
    same transform, so the mean curve is the same function of the calendar year:
    ``b x + c h = (b - c k) x + c hw - c mean(hw)``.

    Returns
    -------
    (x, h) : arrays of shape (len(years),)
    """
    centre, h_mean, slope = _transform(reference_years, settings)
    x = np.asarray(years, dtype=float) - centre
    return x, highway_covariate(years, settings.highway_paving) - h_mean - slope * x


def log_hazard_mean(a, b, c, trend, highway):
    """Mean log hazard: ``a + b * trend + c * highway`` (covariates of :func:`covariates`).

    Broadcasts: pass ``a, b, c`` with a trailing axis (``[:, None]``) to get
    ``(n_draws, n_years)``.
    """
    return a + b * trend + c * highway


def projection_covariates(
    reference_years, crediting_years, settings: Deforestation
) -> tuple[np.ndarray, np.ndarray]:
    """Covariates of the crediting years (:func:`covariates`'s transform).

    With ``projection = "constant"`` the calendar-year trend is held at the last
    reference year (``x`` at its last reference value wherever it enters, i.e.
    also in the orthogonalisation term) while the highway covariate takes its own
    value of each crediting year.

    Returns
    -------
    (trend, highway) : arrays of shape (n_crediting_years,)
    """
    ref = np.asarray(reference_years)
    years = np.asarray(crediting_years)
    if settings.projection != "constant":
        return covariates(years, ref, settings)
    centre, h_mean, slope = _transform(ref, settings)
    x = np.full(years.shape, float(ref[-1]) - centre)
    return x, highway_covariate(years, settings.highway_paving) - h_mean - slope * x


def gap_years(reference_years, crediting_start: int) -> int:
    """Years strictly between the last reference year and the first crediting year."""
    return max(0, int(crediting_start) - int(np.max(reference_years)) - 1)


def observed_log_hazard(forest_area_ha, loss_ha, loss_se_ha) -> tuple[np.ndarray, np.ndarray]:
    """Observed loss on the cloglog scale and its delta-method SD (module docstring).

    Raises
    ------
    ValueError
        If a year's loss is not strictly between 0 and its forest (its log hazard
        is not finite).
    """
    forest = np.asarray(forest_area_ha, dtype=float)
    r = np.asarray(loss_ha, dtype=float) / forest
    se = np.asarray(loss_se_ha, dtype=float) / forest
    bad = np.flatnonzero(~((r > 0) & (r < 1)))
    if bad.size:
        raise ValueError(
            f"reference-period loss must be > 0 and below the forest area in every year "
            f"(the rate model is on the log-hazard scale); year index {int(bad[0])} has "
            f"loss fraction {r[bad[0]]:g}"
        )
    hazard = -np.log1p(-r)
    return np.log(hazard), se / ((1.0 - r) * hazard)


def observed_log_hazard_cov(forest_area_ha, loss_ha, loss_se_ha, loss_cov_ha2=None) -> np.ndarray:
    """Covariance of the observed log hazards: the loss covariance by the delta method.

    ``y_t = log(-log(1 - L_t / F_t))`` has ``dy_t / dL_t = 1 / ((F_t - L_t) h_t)`` with
    ``h_t = -log(1 - L_t / F_t)``, so ``Cov(y) = J Cov(L) J`` with ``J`` that diagonal
    (the SD of :func:`observed_log_hazard` on its diagonal). ``loss_cov_ha2`` None: the
    years' errors independent, ``diag(loss_se_ha^2)``.
    """
    _, s_y = observed_log_hazard(forest_area_ha, loss_ha, loss_se_ha)
    if loss_cov_ha2 is None:
        return np.diag(s_y**2)
    jac = s_y / np.asarray(loss_se_ha, dtype=float)  # 1 / ((F - L) h)
    return np.asarray(loss_cov_ha2, dtype=float) * np.outer(jac, jac)


def draw_noise(
    tree: xr.DataTree,
    years,
    forest_area_ha,
    loss_ha,
    loss_se_ha,
    settings: Deforestation,
    seed,
    loss_cov_ha2=None,
) -> np.ndarray:
    """Latent process noise ``u`` per posterior draw, from its exact Gaussian conditional.

    Given ``(a, b, c, sigma, phi)`` and the observations, ``y = mu + u + eps`` with
    ``u ~ N(0, S)`` (``S = sigma^2 R(phi)``) and ``eps ~ N(0, D)``: ``u | y`` is normal
    with mean ``S (S + D)^-1 (y - mu)`` and covariance ``S - S (S + D)^-1 S`` (e.g.
    Rasmussen & Williams 2006, *Gaussian Processes for Machine Learning*, Eq. A.6).
    ``D`` is :func:`observed_log_hazard_cov` (diagonal unless ``loss_cov_ha2`` is given).

    Returns
    -------
    ndarray, shape (chains, draws, years)
    """
    y, s_y = observed_log_hazard(forest_area_ha, loss_ha, loss_se_ha)
    years = np.asarray(years)
    x, h = covariates(years, years, settings)
    post = tree.posterior
    shape = (post.sizes["chain"], post.sizes["draw"])
    get = {v: post[v].values.reshape(-1) for v in ("a", "b", "c", "sigma")}
    phi = post["phi"].values.reshape(-1) if "phi" in post else np.zeros(get["a"].size)
    mu = get["a"][:, None] + get["b"][:, None] * x + get["c"][:, None] * h
    resid = y[None, :] - mu
    n = years.size
    gen = np.random.default_rng([seed, 0x6E6F69])
    out = np.empty_like(mu)
    d = s_y**2
    obs_cov = observed_log_hazard_cov(forest_area_ha, loss_ha, loss_se_ha, loss_cov_ha2)
    if np.all(phi == 0) and loss_cov_ha2 is None:
        var = get["sigma"][:, None] ** 2
        gain = var / (var + d[None, :])
        out = gain * resid + np.sqrt(gain * d[None, :]) * gen.standard_normal(mu.shape)
    else:
        lag = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
        for i in range(mu.shape[0]):
            cov_u = get["sigma"][i] ** 2 * phi[i] ** lag  # 0 ** 0 = 1: iid is sigma^2 I
            k = cov_u @ np.linalg.inv(cov_u + obs_cov)
            cond = cov_u - k @ cov_u
            chol = np.linalg.cholesky(cond + 1e-12 * np.eye(n))
            out[i] = k @ resid[i] + chol @ gen.standard_normal(n)
    return out.reshape(*shape, n)


def build_model(
    years,
    forest_area_ha,
    loss_ha,
    loss_se_ha,
    settings: Deforestation,
    monitoring=None,
    loss_cov_ha2=None,
) -> pm.Model:
    """PyMC model of the reference-region loss hazard and the project scenario.

    ``loss_cov_ha2``, when given, is the covariance of the years' loss estimates (ha^2;
    e.g. :func:`models.map_accuracy.pooled_loss_estimates`, whose years share their
    hyperparameters): the observations are then jointly normal with that error
    covariance (:func:`observed_log_hazard_cov`) in place of ``diag(s^2)``.

    ``monitoring``, when given, is a dict of arrays ``expected_loss_ha`` (the loss the
    project area would have had without the project, e.g. from matched controls),
    ``observed_loss_ha`` and ``observed_se_ha``: the project's own monitored loss,
    which updates the effectiveness ``e`` through
    ``observed ~ N((1 - e) x expected, se)``.
    """
    years = np.asarray(years)
    y, s_y = observed_log_hazard(forest_area_ha, loss_ha, loss_se_ha)
    x, h = covariates(years, years, settings)
    n = years.size
    with pm.Model(coords={"year": years}) as model:
        trend = pm.Data("trend_years", x, dims="year")
        highway = pm.Data("highway", h, dims="year")
        obs_sd = pm.Data("log_hazard_obs_sd", s_y, dims="year")
        a = pm.Normal("a", *HYPERPRIORS["a"])
        b = pm.Normal("b", *HYPERPRIORS["b"])
        c = pm.Normal("c", *HYPERPRIORS["c"])
        sigma = pm.HalfNormal("sigma", HYPERPRIORS["sigma"])
        mu = log_hazard_mean(a, b, c, trend, highway)
        if loss_cov_ha2 is not None:
            obs_cov = pm.Data(
                "log_hazard_obs_cov",
                observed_log_hazard_cov(forest_area_ha, loss_ha, loss_se_ha, loss_cov_ha2),
            )
        else:
            obs_cov = pt.diag(obs_sd**2)
        if settings.noise == "ar1":
            # (phi + 1) / 2 ~ Beta: mean 0, SD 0.45 for Beta(2, 2), on (-1, 1)
            phi_share = pm.Beta("phi_share", *HYPERPRIORS["phi"])
            phi = pm.Deterministic("phi", 2.0 * phi_share - 1.0)
            lag = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
            cov = sigma**2 * phi**lag + obs_cov
            pm.MvNormal("log_hazard_obs", mu=mu, cov=cov, observed=y, dims="year")
        elif loss_cov_ha2 is not None:
            cov = sigma**2 * np.eye(n) + obs_cov
            pm.MvNormal("log_hazard_obs", mu=mu, cov=cov, observed=y, dims="year")
        else:
            pm.Normal(
                "log_hazard_obs",
                mu=mu,
                sigma=pt.sqrt(sigma**2 + obs_sd**2),
                observed=y,
                dims="year",
            )
        eff = settings.effectiveness
        if eff.lower == 0.0:
            e = pm.Beta("effectiveness", eff.alpha, eff.beta)
        else:  # a Beta scaled to [lower, 1]: e <= 0 possible
            share = pm.Beta("effectiveness_share", eff.alpha, eff.beta)
            e = pm.Deterministic("effectiveness", eff.lower + (1.0 - eff.lower) * share)
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
    loss_cov_ha2=None,
) -> xr.DataTree:
    """Sample the posterior of :func:`build_model`, with its prior predictive.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior`` (with the latent ``noise`` and ``rate_pct``, drawn by
        :func:`draw_noise`), ``sample_stats``, ``observed_data`` and
        ``prior_predictive`` (500 draws of ``loss_pct``, the observed loss as % of
        forest, from the priors).
    """
    model = build_model(
        years, forest_area_ha, loss_ha, loss_se_ha, settings, monitoring, loss_cov_ha2
    )
    tree = sample(model, sampler, seed)
    noise = draw_noise(
        tree, years, forest_area_ha, loss_ha, loss_se_ha, settings, seed, loss_cov_ha2
    )
    post = tree.posterior.to_dataset()
    x, h = covariates(years, years, settings)
    eta = (
        post["a"].values[..., None]
        + post["b"].values[..., None] * x
        + post["c"].values[..., None] * h
        + noise
    )
    tree["posterior"] = post.assign(
        noise=(("chain", "draw", "year"), noise),
        rate_pct=(("chain", "draw", "year"), -100.0 * np.expm1(-np.exp(eta))),
    )
    with model:
        prior = pm.sample_prior_predictive(
            draws=500, var_names=["log_hazard_obs"], random_seed=seed
        )
    pp = prior["prior_predictive"].to_dataset()
    loss_pct = -100.0 * np.expm1(-np.exp(np.clip(pp["log_hazard_obs"], -700, 700)))
    tree["prior_predictive"] = pp.assign(loss_pct=loss_pct).drop_vars("log_hazard_obs")
    return tree


def pointwise_log_likelihood(
    tree: xr.DataTree,
    years,
    forest_area_ha,
    loss_ha,
    loss_se_ha,
    settings: Deforestation,
    loss_cov_ha2=None,
) -> np.ndarray:
    """Log predictive density of each year's observation given the other years, per draw.

    The observations ``y`` (log hazard) are jointly normal given the parameters:
    ``y ~ N(mu, C)`` with ``C = sigma^2 R(phi) + diag(s^2)`` (``R = I`` for ``noise =
    "iid"``; :func:`observed_log_hazard_cov` in place of ``diag(s^2)`` when the
    loss estimates' covariance is given). For a non-factorised normal model the
    leave-one-out conditional of year ``i`` is, with ``g = C^-1 (y - mu)`` and
    ``c_ii = [C^-1]_ii`` (Bürkner, Gabry & Vehtari 2021, Comput. Stat. 36, 1243-1261,
    Eq. 3.4-3.5)::

        log p(y_i | y_-i, theta) = -log(2 pi)/2 + log(c_ii)/2 - g_i^2 / (2 c_ii)

    which for ``R = I`` is the usual normal log density of each year. These are the
    pointwise terms PSIS-LOO needs to compare the iid and AR(1) noise models on the
    same footing (:mod:`simulator.analysis.noise_choice`).

    Returns
    -------
    ndarray, shape (chain, draw, year)
    """
    years = np.asarray(years)
    y, s_y = observed_log_hazard(forest_area_ha, loss_ha, loss_se_ha)
    x, h = covariates(years, years, settings)
    post = tree.posterior
    a, b, c, sigma = (post[v].values for v in ("a", "b", "c", "sigma"))
    mu = a[..., None] + b[..., None] * x + c[..., None] * h
    n = years.size
    shape = a.shape
    if "phi" in post or loss_cov_ha2 is not None:
        phi = post["phi"].values.reshape(-1) if "phi" in post else np.zeros(sigma.size)
        lag = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
        obs_cov = observed_log_hazard_cov(forest_area_ha, loss_ha, loss_se_ha, loss_cov_ha2)
        cov = (sigma.reshape(-1, 1, 1) ** 2) * phi[:, None, None] ** lag + obs_cov
        prec = np.linalg.inv(cov)
        g = np.einsum("kij,kj->ki", prec, y[None, :] - mu.reshape(-1, n))
        cii = np.diagonal(prec, axis1=1, axis2=2)
        out = -0.5 * np.log(2 * np.pi) + 0.5 * np.log(cii) - g**2 / (2 * cii)
        return out.reshape(*shape, n)
    var = sigma[..., None] ** 2 + s_y**2
    return -0.5 * np.log(2 * np.pi * var) - (y - mu) ** 2 / (2 * var)


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
