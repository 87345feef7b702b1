"""Coverage of posterior intervals over many datasets simulated from each model (slow).

If a model's posterior were too narrow (or biased), its 90% intervals would cover
the true value in far fewer than 90% of datasets. With R replicate datasets the
number covered is Binomial(R, 0.9); the bounds below fail with probability below
0.5% for a calibrated model.
"""

import numpy as np
import pytest
from scipy import stats

from models import biomass, deforestation, leakage
from models.sampling import flat_draws
from simulator.config import BetaPrior, Biomass, Leakage, Sampler
from simulator.engine.hazard import loss_fraction
from tests.models.test_recovery import DEFO, simulate_plots, simulate_rates

pytestmark = pytest.mark.slow

SAMPLER = Sampler(chains=2, draws=400, tune=400)
REPLICATES = 20
LOW, HIGH = stats.binom(REPLICATES, 0.9).ppf([0.0025, 0.9975])


def _covered(x, truth, prob=0.90):
    lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return (lo <= truth) & (truth <= hi)


def test_biomass_interval_coverage():
    gen = np.random.default_rng(101)
    hits = np.zeros(3, dtype=int)
    for r in range(REPLICATES):
        mu = gen.normal(np.log(250.0), 0.4, 3)
        tau = gen.uniform(0.15, 0.35, 3)
        strata, s, agb, sd = simulate_plots(gen, mu, tau, [15, 10, 8])
        tree = biomass.fit_plots(strata, s, agb, sd, Biomass(), SAMPLER, seed=r)
        hits += _covered(flat_draws(tree, "mu_stratum"), mu)
    # at least 80% coverage for every stratum, and not implausibly over-covered
    assert np.all((hits >= 0.8 * REPLICATES) & (hits <= HIGH)), hits


def test_deforestation_interval_coverage():
    gen = np.random.default_rng(202)
    years = np.arange(2001, 2021)
    hits = np.zeros(3, dtype=int)
    for r in range(REPLICATES):
        a, b, c = np.log(0.002) + gen.normal(0, 0.3), gen.normal(0.03, 0.02), gen.normal(0.6, 0.3)
        rate = simulate_rates(gen, years, a, b, c, 0.1)
        forest = 8e6 * np.cumprod(np.r_[1.0, 1 - rate[:-1]])
        se = 0.1 * forest * rate
        loss = forest * rate + gen.normal(0, se)
        tree = deforestation.fit(years, forest, loss, se, DEFO, SAMPLER, seed=r)
        hits += [_covered(flat_draws(tree, v), t) for v, t in (("a", a), ("b", b), ("c", c))]
    assert np.all((LOW <= hits) & (hits <= HIGH)), hits


def test_leakage_interval_coverage():
    gen = np.random.default_rng(303)
    prior = BetaPrior(alpha=2, beta=8)
    hits = 0
    for r in range(REPLICATES):
        lam = gen.beta(prior.alpha, prior.beta)  # truth drawn from the prior
        kappa = np.exp(0.1 * gen.normal())  # and the belt counterfactual's error
        avoided = gen.uniform(200, 600, 10)
        base = gen.uniform(1000, 2000, 10)
        se = np.full(10, 60.0)
        belt = kappa * base + lam * avoided + gen.normal(0, se)
        tree = leakage.fit(
            np.arange(10), avoided, belt, base, se, Leakage(displacement=prior), SAMPLER, seed=r
        )
        hits += int(_covered(flat_draws(tree, "displacement"), lam))
    assert LOW <= hits <= HIGH, hits


def test_deforestation_predicts_held_out_years():
    """Fit 20 years, predict the next 5 (trend, highway, fresh process noise, map error).

    Over replicated series, the 90% predictive intervals should cover about 90% of
    the held-out observations; the bounds fail with probability < 0.5% if they do.
    """
    gen = np.random.default_rng(404)
    years = np.arange(2001, 2026)
    fit_years = years[:20]
    x_all, h_all = deforestation.covariates(years, fit_years, DEFO)
    covered = total = 0
    for r in range(REPLICATES):
        a, b, c, sigma = np.log(0.002) + gen.normal(0, 0.3), gen.normal(0.02, 0.01), 0.6, 0.1
        rate = loss_fraction(a + b * x_all + c * h_all + sigma * gen.normal(size=years.size))
        forest = 8e6 * np.cumprod(np.r_[1.0, 1 - rate[:-1]])
        se = 0.1 * forest * rate
        loss = forest * rate + gen.normal(0, se)
        tree = deforestation.fit(fit_years, forest[:20], loss[:20], se[:20], DEFO, SAMPLER, seed=r)
        draws = {v: flat_draws(tree, v)[:, None] for v in ("a", "b", "c", "sigma")}
        mean = deforestation.log_hazard_mean(
            draws["a"], draws["b"], draws["c"], x_all[20:][None, :], h_all[20:][None, :]
        )
        z = gen.normal(size=mean.shape)
        pred = 100 * loss_fraction(mean + draws["sigma"] * z) + gen.normal(size=mean.shape) * (
            100 * se[20:] / forest[20:]
        )
        lo, hi = np.quantile(pred, [0.05, 0.95], axis=0)
        obs = 100 * loss[20:] / forest[20:]
        covered += int(np.sum((lo <= obs) & (obs <= hi)))
        total += obs.size
    low, high = stats.binom(total, 0.9).ppf([0.0025, 0.9975])
    assert low <= covered <= high, (covered, total)
