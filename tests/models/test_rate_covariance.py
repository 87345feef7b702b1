"""The rate model with correlated loss errors (the pooled accuracy series' covariance).

From a map, each year's loss comes pooled across years
(:func:`models.map_accuracy.pooled_loss_estimates`), whose years share hyperparameters:
their errors are correlated, and the rate model takes that covariance
(:func:`models.deforestation.observed_log_hazard_cov`).
"""

import numpy as np
import pytest
from scipy import stats

from models import deforestation
from models.map_accuracy import pooled_loss_estimates
from simulator.config import Deforestation, load_config
from simulator.data import load_data

YEARS = np.arange(2001, 2013)


def _settings(noise):
    return Deforestation(
        highway_paving=(2005, 2010),
        noise=noise,
        effectiveness={"alpha": 4, "beta": 1.3, "lower": -0.5},
        post_conversion_tco2e_ha={"mean": 18.3, "sd": 6},
    )


def _series(gen):
    forest = np.linspace(2.0e6, 1.9e6, YEARS.size)
    loss = forest * np.exp(gen.normal(np.log(0.003), 0.2, YEARS.size))
    se = 0.08 * loss
    corr = 0.3 + 0.7 * np.eye(YEARS.size)
    return forest, loss, se, corr * np.outer(se, se)


def _logp(model):
    return model.compile_fn(
        model.logp(vars=[model["log_hazard_obs"]]),
        inputs=model.value_vars,
        on_unused_input="ignore",
    )


@pytest.mark.parametrize("noise", ["iid", "ar1"])
def test_a_diagonal_covariance_is_the_independent_model(rng, noise):
    forest, loss, se, _ = _series(rng)
    args = (YEARS, forest, loss, se, _settings(noise))
    plain = deforestation.build_model(*args)
    diag = deforestation.build_model(*args, loss_cov_ha2=np.diag(se**2))
    f, g = _logp(plain), _logp(diag)
    base = plain.initial_point()
    for _ in range(3):
        point = {k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in base.items()}
        assert float(g(point)) == pytest.approx(float(f(point)), rel=1e-10)


def test_correlated_errors_give_the_joint_normal_and_its_loo_conditionals(rng):
    forest, loss, se, cov = _series(rng)
    settings = _settings("iid")
    model = deforestation.build_model(YEARS, forest, loss, se, settings, loss_cov_ha2=cov)
    y, _ = deforestation.observed_log_hazard(forest, loss, se)
    c_y = deforestation.observed_log_hazard_cov(forest, loss, se, cov)
    x, h = deforestation.covariates(YEARS, YEARS, settings)
    point = {k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}
    a, b, c = point["a"], point["b"], point["c"]
    sigma = float(np.exp(point["sigma_log__"]))
    mu = a + b * x + c * h
    full = stats.multivariate_normal(mu, sigma**2 * np.eye(YEARS.size) + c_y)
    assert float(_logp(model)(point)) == pytest.approx(full.logpdf(y), rel=1e-10)
    # leave-one-out terms: the joint density minus the others' marginal, year by year
    import xarray as xr

    post = xr.Dataset(
        {
            k: (("chain", "draw"), np.full((1, 1), v))
            for k, v in {"a": a, "b": b, "c": c, "sigma": sigma}.items()
        }
    )
    tree = xr.DataTree.from_dict({"posterior": post})
    got = deforestation.pointwise_log_likelihood(tree, YEARS, forest, loss, se, settings, cov)
    for i in range(YEARS.size):
        keep = np.arange(YEARS.size) != i
        rest = stats.multivariate_normal(mu[keep], full.cov[np.ix_(keep, keep)])
        assert got[0, 0, i] == pytest.approx(full.logpdf(y) - rest.logpdf(y[keep]), rel=1e-9)


def test_a_map_run_takes_the_pooled_series():
    spec = load_config("runs/los-amigos/run.toml")
    data = load_data(spec)
    d, acc = data.deforestation, data.accuracy
    pooled = pooled_loss_estimates(
        [list(e.strata) for e in acc], [e.mapped_area for e in acc], [e.counts for e in acc]
    )
    np.testing.assert_array_equal(d["loss_ha"], pooled["loss_ha"])
    np.testing.assert_array_equal(d["loss_cov_ha2"], pooled["loss_cov_ha2"])
    np.testing.assert_allclose(d["loss_se_ha"] ** 2, np.diag(d["loss_cov_ha2"]))
    # the design-based estimates stay the accuracy report's
    assert [e.area[0] for e in acc] != d["loss_ha"].tolist()


def test_on_the_synthetic_truth_the_pooled_series_is_closer_and_honest():
    """Los Amigos's generator knows the true loss its maps and samples were drawn from."""
    import importlib.util

    path = "runs/los-amigos/generate_data.py"
    module = importlib.util.spec_from_file_location("generate_data", path)
    gen_data = importlib.util.module_from_spec(module)
    module.loader.exec_module(gen_data)
    rng = np.random.default_rng(gen_data.SEED)  # the generator's main stream, in its order
    gen_data.draw_legacy_plot_numbers(rng)
    _, truth = gen_data.draw_deforestation(rng)
    data = load_data(load_config("runs/los-amigos/run.toml"))
    d = data.deforestation
    true = np.array([truth[int(y)] for y in d["year"]])
    stratified = np.array([e.area[0] for e in data.accuracy])
    stratified_se = np.array([e.area_se[0] for e in data.accuracy])
    z_pooled = (d["loss_ha"] - true) / d["loss_se_ha"]
    z_stratified = (stratified - true) / stratified_se
    # measured: 20/20 within 1.96 SE pooled (18/20 stratified, |z| up to 5.0 in 2002, where
    # the buffer sample has no loss point)
    assert np.all(np.abs(z_pooled) < 1.96)
    assert np.sum(np.abs(z_stratified) > 1.96) >= 2 and np.abs(z_stratified).max() > 3
    err = np.abs(d["loss_ha"] / true - 1).mean(), np.abs(stratified / true - 1).mean()
    assert err[0] < 0.5 * err[1]  # measured: 3.4% against 6.9%
    # the whole series against its covariance: a chi-square(20) draw, not an outlier
    r = d["loss_ha"] - true
    assert r @ np.linalg.solve(d["loss_cov_ha2"], r) < stats.chi2(true.size).ppf(0.99)
