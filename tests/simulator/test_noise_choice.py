"""The rate model's process noise compared by PSIS-LOO: its pointwise terms and the stage."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from models import deforestation
from simulator.config import load_config
from tests.conftest import LOS_AMIGOS


def _tree(gen, n_chain=2, n_draw=30, phi=None):
    post = {
        "a": gen.normal(-6, 0.1, (n_chain, n_draw)),
        "b": gen.normal(0.05, 0.01, (n_chain, n_draw)),
        "c": gen.normal(0.3, 0.05, (n_chain, n_draw)),
        "sigma": gen.uniform(0.05, 0.3, (n_chain, n_draw)),
    }
    if phi is not None:
        post["phi"] = np.broadcast_to(phi, (n_chain, n_draw)).copy()
    ds = xr.Dataset({k: (("chain", "draw"), v) for k, v in post.items()})
    return xr.DataTree.from_dict({"posterior": ds})


def _data():
    spec = load_config(LOS_AMIGOS)
    from simulator.data import load_data

    d = load_data(spec).deforestation
    return spec, (d["year"], d["forest_area_ha"], d["loss_ha"], d["loss_se_ha"])


def test_the_iid_terms_are_each_year_s_normal_log_density(rng):
    spec, args = _data()
    settings = spec.config.deforestation
    tree = _tree(rng)
    got = deforestation.pointwise_log_likelihood(tree, *args, settings)
    y, s = deforestation.observed_log_hazard(*args[1:])
    x, h = deforestation.covariates(args[0], args[0], settings)
    p = tree.posterior
    mu = p["a"].values[..., None] + p["b"].values[..., None] * x + p["c"].values[..., None] * h
    sd = np.sqrt(p["sigma"].values[..., None] ** 2 + s**2)
    np.testing.assert_allclose(got, stats.norm.logpdf(y, mu, sd), rtol=1e-12)
    # AR(1) with phi = 0 is the iid model
    with_phi = xr.DataTree.from_dict(
        {"posterior": tree.posterior.to_dataset().assign(phi=p["a"] * 0.0)}
    )
    ar = deforestation.pointwise_log_likelihood(with_phi, *args, settings)
    np.testing.assert_allclose(ar, got, rtol=1e-10)


def test_the_ar1_terms_are_leave_one_out_conditionals(rng):
    """log p(y_i | y_-i) = log N(y; mu, C) - log N(y_-i; mu_-i, C_-i,-i), brute force."""
    spec, args = _data()
    settings = spec.config.deforestation
    tree = _tree(rng, n_chain=1, n_draw=3, phi=0.6)
    got = deforestation.pointwise_log_likelihood(tree, *args, settings)
    y, s = deforestation.observed_log_hazard(*args[1:])
    x, h = deforestation.covariates(args[0], args[0], settings)
    n = y.size
    lag = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    p = tree.posterior
    for k in range(3):
        a, b, c, sig = (float(p[v].values[0, k]) for v in ("a", "b", "c", "sigma"))
        mu = a + b * x + c * h
        cov = sig**2 * 0.6**lag + np.diag(s**2)
        joint = stats.multivariate_normal(mu, cov).logpdf(y)
        for i in (0, 7, n - 1):
            keep = np.arange(n) != i
            rest = stats.multivariate_normal(mu[keep], cov[np.ix_(keep, keep)]).logpdf(y[keep])
            assert got[0, k, i] == pytest.approx(joint - rest, rel=1e-9)


def test_the_appendix_states_whether_the_data_distinguish_the_forms():
    from simulator.report.appendix import noise_comparison_data

    rows = [
        dict(
            noise="iid",
            used=True,
            elpd_loo=8.0,
            se=3.2,
            p_loo=3.6,
            elpd_diff=0.0,
            diff_se=0.0,
            pareto_k_max=0.5,
        ),
        dict(
            noise="ar1",
            used=False,
            elpd_loo=7.0,
            se=3.6,
            p_loo=4.6,
            elpd_diff=-1.0,
            diff_se=0.56,
            pareto_k_max=0.86,
        ),
    ]
    doc = noise_comparison_data(rows)
    assert doc["diff"] == "+1.0" and doc["dse"] == "0.6"
    assert not doc["clear"]  # 1.0 < 2 x 0.56
    assert doc["unreliable"]  # a Pareto k above 0.7


@pytest.mark.slow
def test_a_run_compares_both_noise_forms_by_loo(small_run):
    from simulator.analysis.noise_choice import compare_noise
    from simulator.data import load_data
    from simulator.inference import fit_models

    spec = load_config(small_run)
    data = load_data(spec)
    rows = compare_noise(spec, data, fit_models(spec, data))
    assert sorted(r["noise"] for r in rows) == ["ar1", "iid"]
    assert [r["used"] for r in rows].count(True) == 1
    assert rows[0]["elpd_diff"] == 0 and rows[1]["elpd_diff"] <= 0
    assert all(np.isfinite(r["elpd_loo"]) and r["se"] > 0 for r in rows)
