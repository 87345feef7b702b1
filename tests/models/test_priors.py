"""The stated marginal priors are the PyMC models' own: prior draws of each model agree.

:mod:`models.priors` restates each model's priors in scipy for the report (prior
curves over posteriors, posterior contraction). These tests draw from the PyMC
models themselves (``pm.draw``) and compare SDs, so a prior changed in one place
and not in the other fails here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pymc as pm
import pytest

from models import biomass, deforestation, leakage, priors
from simulator.config.load import load_config

ROOT = Path(__file__).resolve().parents[2]
N = 10_000


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "runs" / "los-amigos" / "run.toml").config


def _check(cfg, model_name: str, model: pm.Model, names, seed: int) -> None:
    # FAST_COMPILE: numba has no truncated-normal sampler (it would warn, an error here)
    draws = pm.draw([model[n] for n in names], draws=N, random_seed=seed, mode="FAST_COMPILE")
    for name, x in zip(names, draws, strict=True):
        x = np.asarray(x).reshape(N, -1)
        sd = priors.prior_sd(cfg, model_name, name)
        # SE of a sample SD is ~ SD sqrt((kurtosis - 1) / 4N): < 1.5% here; 6% leaves room
        np.testing.assert_allclose(x.std(axis=0), sd, rtol=0.06, err_msg=name)
        dist = priors.marginal_prior(cfg, model_name, name)
        if dist is not None:
            np.testing.assert_allclose(x.mean(axis=0), dist.mean(), atol=0.05 * sd, err_msg=name)


def test_biomass_priors_are_the_models(cfg, rng):
    strata = [s.name for s in cfg.project.strata]
    plot_stratum = np.repeat(strata, 3)
    agb = rng.uniform(150, 400, plot_stratum.size)
    model = biomass.build_model(
        strata, plot_stratum, agb, 0.1 * agb, cfg.biomass, explicit_means=True
    )
    # mu_0 is integrated out of the model (mu_stratum's covariance carries its prior)
    names = ["sigma_stratum", "mu_stratum", "tau", "carbon_fraction", "root_shoot"]
    _check(cfg, "biomass", model, names, seed=1)
    assert priors.prior_sd(cfg, "biomass", "mu_0") == biomass.HYPERPRIORS["mu_0"][1]


def test_deforestation_and_leakage_priors_are_the_models(cfg):
    years = np.arange(2001, 2011)
    model = deforestation.build_model(
        years, np.full(10, 1e6), np.full(10, 2e3), np.full(10, 2e2), cfg.deforestation
    )
    names = ["a", "b", "c", "sigma", "effectiveness", "post_conversion_tco2e_ha"]
    _check(cfg, "deforestation", model, names, seed=2)
    model = leakage.build_model(
        years,
        np.full(10, 50.0),
        np.full(10, 100.0),
        np.full(10, 90.0),
        np.full(10, 5.0),
        cfg.leakage,
    )
    _check(cfg, "leakage", model, ["displacement", "belt_baseline_z"], seed=3)


def test_contraction_is_zero_for_the_prior_and_one_for_a_point():
    assert priors.contraction(2.0, 2.0) == 0.0
    assert priors.contraction(0.0, 2.0) == 1.0
    assert priors.contraction(1.0, 2.0) == pytest.approx(0.75)
    assert np.isnan(priors.contraction(1.0, None))
