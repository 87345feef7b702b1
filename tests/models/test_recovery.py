"""Each model recovers known parameters from data simulated from it (small scale).

Datasets and samplers are seeded, so each check is deterministic; the criterion
(true value within 3 posterior SDs of the posterior mean) would fail for a model
that is biased or whose uncertainty is too narrow. A coverage study over many
datasets is in the slow tests.
"""

import numpy as np
import pytest

from models import biomass, deforestation, leakage
from models.sampling import diagnose, flat_draws
from simulator.config import (
    BetaPrior,
    Biomass,
    Deforestation,
    EffectivenessPrior,
    Leakage,
    NormalPrior,
    Sampler,
)
from simulator.engine.hazard import loss_fraction

SAMPLER = Sampler(chains=2, draws=500, tune=500, target_accept=0.9)


def _assert_recovers(tree, name, truth, k=3.0):
    x = flat_draws(tree, name)
    mean, sd = x.mean(axis=0), x.std(axis=0)
    assert np.all(np.abs(mean - truth) < k * sd), f"{name}: {mean} +/- {sd} vs true {truth}"
    return mean, sd


def simulate_plots(gen, mu, tau, n_per_stratum, rel_sd=0.12):
    strata = [f"s{i}" for i in range(len(mu))]
    plot_stratum = np.repeat(strata, n_per_stratum)
    idx = np.repeat(np.arange(len(mu)), n_per_stratum)
    m = np.sqrt(np.log1p(rel_sd**2))
    true_log = gen.normal(mu[idx], tau[idx])
    agb = np.exp(gen.normal(true_log, m))
    return strata, plot_stratum, agb, rel_sd * agb


def test_biomass_recovers_stratum_means(rng):
    mu = np.log([350.0, 300.0, 220.0, 130.0])
    tau = np.array([0.22, 0.25, 0.3, 0.25])
    strata, plot_stratum, agb, sd = simulate_plots(rng, mu, tau, [40, 30, 30, 25])
    tree = biomass.fit_plots(strata, plot_stratum, agb, sd, Biomass(), SAMPLER, seed=1)
    _assert_recovers(tree, "mu_stratum", mu)
    _assert_recovers(tree, "tau", tau)
    # stratum mean AGB: exp(mu + tau^2/2)
    _assert_recovers(tree, "agb_mg_ha", np.exp(mu + tau**2 / 2))
    assert diagnose("biomass", tree, biomass.FREE_PARAMETERS).divergences == 0


@pytest.mark.parametrize("n_strata", [1, 12])
def test_biomass_fits_one_stratum_and_many_without_divergences(rng, n_strata):
    mu = rng.normal(np.log(250.0), 0.4, n_strata)
    tau = rng.uniform(0.15, 0.35, n_strata)
    strata, plot_stratum, agb, sd = simulate_plots(rng, mu, tau, [rng.integers(3, 20) for _ in mu])
    tree = biomass.fit_plots(strata, plot_stratum, agb, sd, Biomass(), SAMPLER, seed=6)
    # one stratum has no grand mean or between-strata SD to diagnose
    free = [v for v in biomass.FREE_PARAMETERS if v in tree.posterior]
    assert ("sigma_stratum" in free) == (n_strata > 1)
    d = diagnose("biomass", tree, free)
    assert d.divergences == 0 and d.max_r_hat < 1.02, d
    _assert_recovers(tree, "mu_stratum", mu, k=3.5)


def test_design_based_means_are_cochrans():
    got = biomass.design_based_means(["a", "b", "c"], ["a", "a", "b", "a"], [1.0, 3.0, 5.0, 5.0])
    np.testing.assert_allclose(got["mean"][:2], [3.0, 5.0])
    np.testing.assert_allclose(got["se"][0], 2.0 / np.sqrt(3))  # s = 2, n = 3
    assert np.isnan(got["se"][1]) and got["n"].tolist() == [3, 1, 0]


def test_biomass_carbon_priors_pass_through(rng):
    strata, plot_stratum, agb, sd = simulate_plots(rng, np.log([300.0]), np.array([0.2]), [10])
    tree = biomass.fit_plots(strata, plot_stratum, agb, sd, Biomass(), SAMPLER, seed=2)
    cf = flat_draws(tree, "carbon_fraction")
    assert cf.mean() == pytest.approx(0.47, abs=0.002) and cf.std() == pytest.approx(
        0.0206, rel=0.1
    )
    rs = flat_draws(tree, "root_shoot")
    assert rs.min() >= 0.27 and rs.max() <= 0.44
    carbon = flat_draws(tree, "carbon_tco2e_ha")[:, 0]
    agb_s = flat_draws(tree, "agb_mg_ha")[:, 0]
    np.testing.assert_allclose(carbon, agb_s * (1 + rs) * cf * 44 / 12, rtol=1e-10)


DEFO = Deforestation(
    highway_paving=(2006, 2011),
    effectiveness=EffectivenessPrior(alpha=14, beta=5),
    post_conversion_tco2e_ha=NormalPrior(mean=18.3, sd=6.0),
)


def simulate_rates(gen, years, a, b, c, sigma, settings=DEFO, phi=0.0):
    """Annual loss fractions of the cloglog rate model (AR(1) noise if ``phi``)."""
    x, h = deforestation.covariates(years, years, settings)
    u = np.empty(len(years))
    u[0] = sigma * gen.normal()
    for t in range(1, len(years)):
        u[t] = phi * u[t - 1] + sigma * np.sqrt(1 - phi**2) * gen.normal()
    return loss_fraction(a + b * x + c * h + u)


def test_highway_covariate_ramps():
    h = deforestation.highway_covariate([2004, 2006, 2008, 2011, 2015], (2006, 2011))
    np.testing.assert_allclose(h, [0.0, 0.0, 0.4, 1.0, 1.0])
    assert deforestation.highway_covariate([2005, 2006], (2006, 2006)).tolist() == [0.0, 1.0]


def test_covariates_are_centred_and_orthogonal():
    years = np.arange(2001, 2021)
    x, h = deforestation.covariates(years, years, DEFO)
    assert abs(x.sum()) < 1e-9 and abs(h.sum()) < 1e-9 and abs(x @ h) < 1e-9


def test_deforestation_recovers_rate_parameters(rng):
    years = np.arange(1996, 2021)
    a, b, c, sigma = np.log(0.002), 0.03, 0.8, 0.1
    rate = simulate_rates(rng, years, a, b, c, sigma)
    forest = 8e6 * np.cumprod(np.r_[1.0, 1 - rate[:-1]])
    true_loss = forest * rate
    se = 0.06 * true_loss
    loss = true_loss + rng.normal(0, se)
    tree = deforestation.fit(years, forest, loss, se, DEFO, SAMPLER, seed=3)
    _assert_recovers(tree, "a", a)
    _assert_recovers(tree, "b", b)
    _assert_recovers(tree, "c", c)
    assert diagnose("deforestation", tree, ["a", "b", "c", "sigma"]).divergences == 0
    # latent annual rates: most 90% intervals cover the true rate (25 years, expect ~22.5)
    lo, hi = np.quantile(flat_draws(tree, "rate_pct"), [0.05, 0.95], axis=0)
    assert np.sum((lo < 100 * rate) & (100 * rate < hi)) >= 19
    # scenario parameters have no data: their posterior is the prior
    e = flat_draws(tree, "effectiveness")
    assert e.mean() == pytest.approx(14 / 19, abs=0.01)
    post = flat_draws(tree, "post_conversion_tco2e_ha")
    assert post.mean() == pytest.approx(18.3, rel=0.03) and post.std() == pytest.approx(
        6.0, rel=0.1
    )


def test_ar1_noise_recovers_its_coefficient(rng):
    years = np.arange(1981, 2021)
    settings = DEFO.model_copy(update={"noise": "ar1"})
    rate = simulate_rates(rng, years, np.log(0.002), 0.0, 0.5, 0.3, settings, phi=0.7)
    forest = 8e6 * np.cumprod(np.r_[1.0, 1 - rate[:-1]])
    se = 0.03 * forest * rate
    loss = forest * rate + rng.normal(0, se)
    tree = deforestation.fit(years, forest, loss, se, settings, SAMPLER, seed=5)
    _assert_recovers(tree, "phi", 0.7)
    assert diagnose("deforestation", tree, ["a", "b", "c", "sigma", "phi"]).divergences == 0


def test_effectiveness_prior_may_reach_below_zero():
    eff = EffectivenessPrior(alpha=4, beta=1.3, lower=-0.5)
    model = deforestation.build_model(
        np.arange(2001, 2011),
        np.full(10, 1e6),
        np.full(10, 2e3),
        np.full(10, 2e2),
        DEFO.model_copy(update={"effectiveness": eff}),
    )
    import pymc as pm

    e = pm.draw(model["effectiveness"], draws=20_000, random_seed=1)
    assert e.min() < 0 < e.max() < 1
    assert e.mean() == pytest.approx(-0.5 + 1.5 * 4 / 5.3, abs=0.01)


def test_latent_rates_use_the_kernels_formula(rng):
    """rate_pct of the posterior is engine.hazard.loss_fraction of a + b x + c h + noise."""
    years = np.arange(2001, 2021)
    rate = simulate_rates(rng, years, np.log(0.002), 0.02, 0.5, 0.2)
    forest = 8e6 * np.cumprod(np.r_[1.0, 1 - rate[:-1]])
    se = 0.1 * forest * rate
    tree = deforestation.fit(years, forest, forest * rate, se, DEFO, SAMPLER, seed=1)
    x, h = deforestation.covariates(years, years, DEFO)
    v = {k: flat_draws(tree, k) for k in ("a", "b", "c", "noise", "rate_pct")}
    eta = v["a"][:, None] + v["b"][:, None] * x + v["c"][:, None] * h + v["noise"]
    np.testing.assert_allclose(v["rate_pct"], 100 * loss_fraction(eta), rtol=1e-12)
    # the latent noise is shrunk towards 0 by the map error, never beyond the residual
    assert np.all(np.abs(v["noise"].mean(axis=0)) < 1.0)


def test_loss_outside_the_forest_is_refused():
    with pytest.raises(ValueError, match="loss fraction 0"):
        deforestation.observed_log_hazard([1e6, 1e6], [10.0, 0.0], [1.0, 1.0])


def test_projection_holds_or_extends_the_trend():
    ref = np.arange(2001, 2021)
    credit = np.arange(2026, 2031)
    a, b, c = -6.0, 0.05, 0.7
    x_last, h_last = deforestation.covariates(ref[-1:], ref, DEFO)
    trend, h = deforestation.projection_covariates(ref, credit, DEFO)
    # constant: the mean log hazard of every crediting year is the last reference year's
    np.testing.assert_allclose(
        deforestation.log_hazard_mean(a, b, c, trend, h),
        deforestation.log_hazard_mean(a, b, c, x_last, h_last)[0],
        rtol=1e-12,
    )
    trend, h = deforestation.projection_covariates(
        ref, credit, DEFO.model_copy(update={"projection": "trend"})
    )
    eta = deforestation.log_hazard_mean(a, b, c, trend, h)

    # trend: the curve continues, one calendar year at a time (the highway is paved, 1)
    step = np.diff(eta)
    np.testing.assert_allclose(step, step[0], rtol=1e-9)
    assert deforestation.gap_years(ref, 2026) == 5 and deforestation.gap_years(ref, 2021) == 0


def test_leakage_recovers_displacement(rng):
    years = np.arange(2000, 2025)
    lam = 0.3
    avoided = rng.uniform(200, 600, years.size)
    baseline = rng.uniform(1000, 2000, years.size)
    se = np.full(years.size, 40.0)
    belt = baseline + lam * avoided + rng.normal(0, se)
    tree = leakage.fit(
        years,
        avoided,
        belt,
        baseline,
        se,
        Leakage(displacement=BetaPrior(alpha=2, beta=18), belt_baseline_cv=0.0),
        SAMPLER,
        seed=4,
    )
    mean, sd = _assert_recovers(tree, "displacement", lam)
    assert sd < 0.05  # the data, not the Beta(2, 18) prior (mean 0.1), decide
    # an uncertain belt counterfactual (10%) is as large as the displaced loss: lambda widens
    uncertain = leakage.fit(
        years,
        avoided,
        belt,
        baseline,
        se,
        Leakage(displacement=BetaPrior(alpha=2, beta=18), belt_baseline_cv=0.1),
        SAMPLER,
        seed=4,
    )
    assert flat_draws(uncertain, "displacement").std() > 1.5 * sd


def test_biomass_fit_from_a_tree_inventory(rng):
    """The pipeline's path: tree-level Monte Carlo per plot, then the stratum model on it."""
    from models.inventory import Inventory, plot_agb_deterministic, plot_agb_draws
    from tests.models.test_inventory import make_inventory

    inv = make_inventory(rng, n_plots=8, trees_per_plot=150)
    inv = Inventory(**{**inv.__dict__, "plot_stratum": np.array(["a"] * 4 + ["b"] * 4)})
    draws = plot_agb_draws(inv, inv.height_model(), 200, seed=5)
    mc_mean, mc_sd = draws.mean(axis=1), draws.std(axis=1, ddof=1)
    tree = biomass.fit_plots(["a", "b"], inv.plot_stratum, mc_mean, mc_sd, Biomass(), SAMPLER, 5)
    # the Monte Carlo is centred on the deterministic Eq. 4 plot sums
    np.testing.assert_allclose(mc_mean, plot_agb_deterministic(inv, inv.height_model()), rtol=0.03)
    agb = flat_draws(tree, "agb_mg_ha")
    for i in range(2):
        plots = mc_mean[4 * i : 4 * i + 4]
        lo, hi = np.quantile(agb[:, i], [0.005, 0.995])
        assert lo < plots.mean() < hi


@pytest.mark.parametrize("cv", [0.0, 0.1])
@pytest.mark.parametrize(("lam", "expect"), [(-0.3, "low"), (1.4, "high")])
def test_leakage_fraction_stays_a_fraction(rng, lam, expect, cv):
    """Belt data implying a displacement outside [0, 1] push the posterior to a bound, not past.

    With the belt counterfactual taken as exact (``belt_baseline_cv = 0``) the posterior
    sits at the bound. With its 10% error (the default) part of the excess is the
    counterfactual's (``kappa``), so the posterior moves towards the bound, not onto it.
    """
    years = np.arange(2010, 2020)
    avoided = rng.uniform(300, 600, years.size)
    baseline = rng.uniform(1000, 2000, years.size)
    se = np.full(years.size, 30.0)
    belt = baseline + lam * avoided + rng.normal(0, se)
    prior = Leakage(displacement=BetaPrior(alpha=2, beta=18), belt_baseline_cv=cv)
    tree = leakage.fit(years, avoided, belt, baseline, se, prior, SAMPLER, seed=6)
    x = flat_draws(tree, "displacement")
    assert np.all((x > 0) & (x < 1))
    if cv == 0:
        assert (x.mean() < 0.05) if expect == "low" else (x.mean() > 0.95)
    else:  # prior mean 0.1
        assert (x.mean() < 0.05) if expect == "low" else (x.mean() > 0.5)


def test_project_monitoring_updates_effectiveness(rng):
    """Monitored project loss against its expected baseline pins down e = 0.6 (prior mean 0.74)."""
    years = np.arange(2001, 2021)
    rate = np.exp(np.log(0.002) + 0.1 * rng.normal(size=years.size))
    forest = 8e6 * np.ones(years.size)
    se = 0.08 * forest * rate
    expected = rng.uniform(300, 500, 8)
    observed = (1 - 0.6) * expected + rng.normal(0, 10, 8)
    monitoring = {
        "expected_loss_ha": expected,
        "observed_loss_ha": observed,
        "observed_se_ha": np.full(8, 10.0),
    }
    tree = deforestation.fit(
        years, forest, forest * rate, se, DEFO, SAMPLER, seed=7, monitoring=monitoring
    )
    mean, sd = _assert_recovers(tree, "effectiveness", 0.6)
    assert sd < 0.03  # the data, not the Beta(14, 5) prior, decide


def test_a_one_stratum_project_samples_without_divergences(rng):
    """With one stratum there is nothing to pool: no grand mean or between-strata SD."""
    agb = np.exp(rng.normal(np.log(300.0), 0.2, 12))
    sd = 0.1 * agb
    tree = biomass.fit_plots(["only"], np.array(["only"] * 12), agb, sd, Biomass(), SAMPLER, 11)
    assert "mu_0" not in tree.posterior and "sigma_stratum" not in tree.posterior
    assert int(tree.sample_stats["diverging"].sum()) == 0
    lo, hi = np.quantile(flat_draws(tree, "agb_mg_ha")[:, 0], [0.005, 0.995])
    assert lo < 300.0 * np.exp(0.02) < hi
