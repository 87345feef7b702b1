"""Posterior predictive checks of the biomass and leakage models.

On data simulated from known parameters the 90% posterior predictive intervals cover
about 90% of the observations (within two-sided 0.1% binomial bounds), and the
between-plot SD's p-value is not extreme; observations the posterior does not describe
(shifted by +50%, their spread doubled, or a belt noisier than its stated SE) are
flagged. Datasets and samplers are seeded, so each check is deterministic.
"""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from models import biomass, leakage
from simulator.config import BetaPrior, Biomass, Leakage, Sampler
from simulator.report.figures.biomass import biomass_checks, fig_biomass_checks
from simulator.report.figures.leakage import fig_leakage_checks, leakage_checks

SAMPLER = Sampler(chains=2, draws=500, tune=500, target_accept=0.9)
LEAKAGE = Leakage(displacement=BetaPrior(alpha=2, beta=18), belt_baseline_cv=0.1)


def binomial_bounds(n: int, p: float = 0.9, alpha: float = 0.001) -> tuple[int, int]:
    """Two-sided ``alpha`` bounds of the number inside a ``p`` interval out of ``n``."""
    return int(stats.binom.ppf(alpha / 2, n, p)), int(stats.binom.ppf(1 - alpha / 2, n, p))


def simulate_plots(gen, mu, tau, n_per_stratum, rel_sd=0.1):
    """Plot AGB from the model's generative form: log AGB ~ N(mu_s, sqrt(tau_s^2 + m^2))."""
    strata = [f"s{i}" for i in range(len(mu))]
    plot_stratum = np.repeat(strata, n_per_stratum)
    idx = np.repeat(np.arange(len(mu)), n_per_stratum)
    m = np.sqrt(np.log1p(rel_sd**2))
    agb = np.exp(gen.normal(gen.normal(mu[idx], tau[idx]), m))
    return strata, plot_stratum, agb, rel_sd * agb


@pytest.fixture(scope="module")
def plots_fit():
    gen = np.random.default_rng(20261202)
    mu, tau = np.log([320.0, 160.0]), np.array([0.2, 0.3])
    strata, plot_stratum, agb, sd = simulate_plots(gen, mu, tau, [70, 50])
    tree = biomass.fit_plots(strata, plot_stratum, agb, sd, Biomass(), SAMPLER, seed=11)
    return tree, strata, plot_stratum, agb, sd


def simulate_belt(gen, n_years=60, lam=0.1, kappa=1.0, noise=1.0):
    """Belt loss from the leakage likelihood, its noise ``noise`` times the stated SE."""
    years = np.arange(1960, 1960 + n_years)
    avoided = gen.uniform(200, 600, n_years)
    baseline = gen.uniform(1000, 2000, n_years)
    se = gen.uniform(40, 80, n_years)
    loss = kappa * baseline + lam * avoided + gen.normal(0.0, noise * se)
    return {
        "year": years,
        "avoided_ha": avoided,
        "belt_loss_ha": loss,
        "belt_baseline_ha": baseline,
        "belt_se_ha": se,
    }


def fit_belt(belt, seed=4):
    return leakage.fit(
        belt["year"],
        belt["avoided_ha"],
        belt["belt_loss_ha"],
        belt["belt_baseline_ha"],
        belt["belt_se_ha"],
        LEAKAGE,
        SAMPLER,
        seed,
    )


def test_biomass_intervals_cover_about_90_percent_of_plots_from_the_model(plots_fit):
    tree, strata, plot_stratum, agb, sd = plots_fit
    c = biomass_checks(tree, strata, plot_stratum, agb, sd, Biomass(), seed=5)
    lo, hi = binomial_bounds(agb.size)
    assert lo <= c["inside"].sum() <= hi, (c["inside"].sum(), agb.size, (lo, hi))
    assert np.all(c["lo"] < c["hi"]) and np.all(c["lo"] > 0)
    np.testing.assert_allclose(c["observed"], agb)
    # the replicated spread matches the observed one: no extreme p-value
    assert np.all((c["sd_p"] > 0.05) & (c["sd_p"] < 0.95)), c["sd_p"]


def test_biomass_replicates_carry_between_plot_and_measurement_error(plots_fit):
    tree, strata, plot_stratum, agb, sd = plots_fit
    rep = biomass.posterior_predictive(tree, strata, plot_stratum, agb, sd, Biomass(), seed=5)
    assert rep.shape == (SAMPLER.chains * SAMPLER.draws, agb.size)
    tau = tree.posterior["tau"].values.reshape(-1, 2)
    mu = tree.posterior["mu_stratum"].values.reshape(-1, 2)
    m = np.sqrt(np.log1p(0.1**2))
    first = np.flatnonzero(plot_stratum == "s0")[0]
    z = (rep[:, first] - mu[:, 0]) / np.sqrt(tau[:, 0] ** 2 + m**2)
    assert abs(z.mean()) < 0.1 and z.std() == pytest.approx(1.0, abs=0.05)


def test_biomass_checks_are_seeded(plots_fit):
    tree, strata, plot_stratum, agb, sd = plots_fit
    a = biomass_checks(tree, strata, plot_stratum, agb, sd, Biomass(), seed=5)
    b = biomass_checks(tree, strata, plot_stratum, agb, sd, Biomass(), seed=5)
    c = biomass_checks(tree, strata, plot_stratum, agb, sd, Biomass(), seed=6)
    np.testing.assert_array_equal(a["sd_replicated"], b["sd_replicated"])
    assert not np.array_equal(a["sd_replicated"], c["sd_replicated"])


def test_biomass_plots_shifted_by_half_fall_outside(plots_fit):
    tree, strata, plot_stratum, agb, sd = plots_fit
    c = biomass_checks(tree, strata, plot_stratum, 1.5 * agb, 1.5 * sd, Biomass(), seed=5)
    lo, _ = binomial_bounds(agb.size)
    assert c["inside"].sum() < lo, (c["inside"].sum(), lo)


def test_biomass_spread_doubled_gives_an_extreme_sd_p_value(plots_fit):
    tree, strata, plot_stratum, agb, sd = plots_fit
    log_agb = np.log(agb)
    spread = log_agb.copy()
    for s in strata:
        members = plot_stratum == s
        spread[members] = log_agb[members].mean() + 2 * (log_agb[members] - log_agb[members].mean())
    c = biomass_checks(tree, strata, plot_stratum, np.exp(spread), sd, Biomass(), seed=5)
    assert np.all(c["sd_p"] < 0.01), c["sd_p"]


def test_biomass_figure_returns_the_coverage_it_draws(plots_fit, tmp_path):
    tree, strata, plot_stratum, agb, sd = plots_fit
    plots = SimpleNamespace(
        mean=agb, sd=sd, inventory=SimpleNamespace(plot_stratum=np.asarray(plot_stratum))
    )
    labels = {"s0": "Stratum zero", "s1": "Stratum one"}
    out = fig_biomass_checks(tmp_path / "b.png", labels, plots, tree, Biomass(), 5)
    c = biomass_checks(tree, strata, plot_stratum, agb, sd, Biomass(), seed=5)
    assert out["inside"] == str(int(c["inside"].sum())) and out["n"] == str(agb.size)
    assert out["sd_p"].startswith("Stratum zero ") and ", Stratum one " in out["sd_p"]
    assert (tmp_path / "b.png").stat().st_size > 10_000


def test_biomass_checks_of_one_stratum():
    gen = np.random.default_rng(3)
    strata, plot_stratum, agb, sd = simulate_plots(gen, np.log([250.0]), np.array([0.25]), [15])
    tree = biomass.fit_plots(strata, plot_stratum, agb, sd, Biomass(), SAMPLER, seed=2)
    c = biomass_checks(tree, strata, plot_stratum, agb, sd, Biomass(), seed=5)
    assert c["inside"].size == 15 and np.isfinite(c["sd_p"]).all()


@pytest.fixture(scope="module")
def belt_fit():
    belt = simulate_belt(np.random.default_rng(7))
    return belt, fit_belt(belt)


def test_leakage_intervals_cover_about_90_percent_of_years_from_the_model(belt_fit, tmp_path):
    belt, tree = belt_fit
    c = leakage_checks(tree, belt, LEAKAGE, seed=5)
    n = belt["year"].size
    lo, hi = binomial_bounds(n)
    assert lo <= c["inside"].sum() <= hi, (c["inside"].sum(), n, (lo, hi))
    assert np.all(c["lo"] < c["q25"]) and np.all(c["q75"] < c["hi"])
    out = fig_leakage_checks(
        tmp_path / "l.png", SimpleNamespace(leakage_belt=belt), tree, LEAKAGE, 5
    )
    assert out == {"inside": str(int(c["inside"].sum())), "n": str(n)}
    assert (tmp_path / "l.png").stat().st_size > 10_000


def test_leakage_belt_shifted_by_half_falls_outside(belt_fit):
    belt, tree = belt_fit
    shifted = belt | {"belt_loss_ha": 1.5 * belt["belt_loss_ha"]}
    c = leakage_checks(tree, shifted, LEAKAGE, seed=5)
    lo, _ = binomial_bounds(belt["year"].size)
    assert c["inside"].sum() < lo


def test_leakage_belt_noisier_than_its_stated_se_is_flagged():
    """A fitted model whose likelihood is wrong: the belt's noise is three times its SE."""
    belt = simulate_belt(np.random.default_rng(8), noise=3.0)
    c = leakage_checks(fit_belt(belt), belt, LEAKAGE, seed=5)
    lo, _ = binomial_bounds(belt["year"].size)
    assert c["inside"].sum() < lo, (c["inside"].sum(), lo)
