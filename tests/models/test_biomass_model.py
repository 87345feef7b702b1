"""The biomass model's integrated likelihood and its conditional stratum means.

NUTS samples the variances with the stratum means integrated out
(:func:`models.biomass.build_model`); these check the two formulas that make this the
same model as the hierarchical one: the Woodbury form of the marginal density against
a dense multivariate normal, and the precision form of the means' conditional against
the covariance form (Gelman et al. 2013, BDA §3.5), then both samplers' posteriors
against each other, and a design whose centred form diverges.
"""

import numpy as np
import pytest
from scipy import stats

from models import biomass
from models.sampling import diagnose, sample
from simulator.config import Biomass, Sampler

M0, S0 = biomass.HYPERPRIORS["mu_0"]


def _design(gen, sizes):
    strata = [f"s{i}" for i in range(len(sizes))]
    plot_stratum = np.repeat(strata, sizes)
    agb = np.exp(gen.normal(5.5, 0.3, plot_stratum.size))
    return strata, plot_stratum, agb, agb * gen.uniform(0.05, 0.2, agb.size)


def _dense(strata, plot_stratum, agb, sd, sigma, tau):
    """Mean, covariance of the plots' log AGB and the incidence, written out densely."""
    k = len(strata)
    idx = np.array([strata.index(s) for s in plot_stratum])
    y, m = biomass.plot_log_data(agb, sd)
    c = sigma**2 * np.eye(k) + S0**2 * np.ones((k, k)) if k > 1 else np.full((1, 1), S0**2)
    z = np.eye(k)[idx]
    return y, c, z, np.diag(tau[idx] ** 2 + m**2) + z @ c @ z.T


@pytest.mark.parametrize("sizes", [[6], [5, 3, 8], [2, 9, 4, 1, 7]])
def test_integrated_density_is_the_dense_multivariate_normal(rng, sizes):
    strata, plot_stratum, agb, sd = _design(rng, sizes)
    model = biomass.build_model(strata, plot_stratum, agb, sd, Biomass())
    logp = model.compile_fn(
        model.logp(vars=[model["log_agb"]]), inputs=model.value_vars, on_unused_input="ignore"
    )
    point = model.initial_point()
    for _ in range(4):
        p = {k: v + rng.normal(0.0, 0.7, np.shape(v)) for k, v in point.items()}
        sigma = float(np.exp(p["sigma_stratum_log__"])) if len(sizes) > 1 else 0.0
        y, _, _, cov = _dense(strata, plot_stratum, agb, sd, sigma, np.exp(p["tau_log__"]))
        want = stats.multivariate_normal(np.full(y.size, M0), cov).logpdf(y)
        np.testing.assert_allclose(float(logp(p)), want, rtol=1e-10)


@pytest.mark.parametrize(
    ("sizes", "sigma"), [([7], 0.0), ([5, 3, 8, 2], 0.3), ([5, 3, 8, 2], 1e-7), ([4, 0, 6], 0.2)]
)
def test_drawn_means_have_the_exact_conditional(rng, sizes, sigma):
    """Also where the precision form fails: sigma near 0, and a stratum without plots."""
    strata, plot_stratum, agb, sd = _design(rng, sizes)
    k, n = len(sizes), 200_000
    tau = rng.uniform(0.1, 0.6, k)
    y, c, z, cov = _dense(strata, plot_stratum, agb, sd, sigma, tau)
    # covariance form: mu | y ~ N(m0 + C Z' S^-1 (y - m0), C - C Z' S^-1 Z C)
    gain = c @ z.T @ np.linalg.inv(cov)
    want_mean, want_cov = M0 + gain @ (y - M0), c - gain @ z @ c
    idx = np.array([strata.index(s) for s in plot_stratum])
    _, m = biomass.plot_log_data(agb, sd)
    draws = biomass.draw_stratum_means(
        np.full(n, sigma) if k > 1 else None, np.tile(tau, (n, 1)), idx, y, m, seed=5
    )
    se = np.sqrt(np.diag(want_cov) / n)
    assert np.all(np.abs(draws.mean(axis=0) - want_mean) < 4.5 * se)
    # sampling SD of a covariance estimate: sqrt((s_ii s_jj + s_ij^2) / n)
    var = np.diag(want_cov)
    cov_se = np.sqrt((np.outer(var, var) + want_cov**2) / n)
    assert np.all(np.abs(np.cov(draws.T).reshape(k, k) - want_cov) < 4.5 * cov_se)


def test_integrated_and_explicit_forms_give_one_posterior(rng):
    """The sampled (integrated) form and the explicit-means form agree, draw for draw."""
    strata, plot_stratum, agb, sd = _design(rng, [5, 3, 8])
    settings = Sampler(chains=2, draws=1000, tune=1000, target_accept=0.95)
    fit = biomass.fit_plots(strata, plot_stratum, agb, sd, Biomass(), settings, seed=3)
    explicit = sample(
        biomass.build_model(strata, plot_stratum, agb, sd, Biomass(), explicit_means=True),
        settings,
        seed=3,
    )
    for name in ("mu_stratum", "tau", "carbon_tco2e_ha"):
        a = fit.posterior[name].values.reshape(-1, 3)
        b = explicit.posterior[name].values.reshape(-1, 3)
        # 2,000 draws each, ESS >= ~500: means within 4.5 s.e. of the difference
        se = np.sqrt(a.var(axis=0) / 500 + b.var(axis=0) / 500)
        assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) < 4.5 * se), name


def test_alike_strata_with_few_noisy_plots_fit_without_divergences(rng):
    """Small sigma_s and large tau_s: the centred form's funnel (it diverges here)."""
    strata = ["a", "b", "c", "d"]
    sizes = [4, 3, 5, 3]
    plot_stratum = np.repeat(strata, sizes)
    mu, tau = np.log(250.0) + rng.normal(0.0, 0.05, 4), np.array([0.5, 0.9, 0.4, 0.8])
    idx = np.repeat(np.arange(4), sizes)
    agb = np.exp(rng.normal(mu[idx], tau[idx]))
    sd = 0.1 * agb
    settings = Sampler(chains=4, draws=1000, tune=1000, target_accept=0.9)
    tree = biomass.fit_plots(strata, plot_stratum, agb, sd, Biomass(), settings, seed=8)
    d = diagnose("biomass", tree, biomass.FREE_PARAMETERS)
    assert d.passed, d
    explicit = sample(
        biomass.build_model(strata, plot_stratum, agb, sd, Biomass(), explicit_means=True),
        settings,
        seed=8,
    )
    assert int(explicit.sample_stats["diverging"].sum()) > 0  # the funnel is real here
