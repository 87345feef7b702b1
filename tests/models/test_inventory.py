"""Tree-level Monte Carlo of plot AGB: known answers, each error source, shared factors."""

import numpy as np
import pytest

from models.allometry import (
    MIN_HEIGHTS,
    chave2014_agb,
    feldpausch_height,
    fit_height_model,
    goodman2013_palm_agb,
    load_eq4_posterior,
)
from models.inventory import (
    ErrorSources,
    Inventory,
    candidate_agb,
    error_budget,
    expansion_factors,
    plot_agb_deterministic,
    plot_agb_draws,
)


def make_inventory(gen, n_plots=3, trees_per_plot=400, giant=None, measured_share=0.3, **extra):
    """Reverse-J diameters, Feldpausch heights (some measured), genus-level densities."""
    d = 10 + gen.exponential(12.0, n_plots * trees_per_plot)
    plot = np.repeat(np.arange(n_plots), trees_per_plot)
    if giant is not None:
        d[0] = giant
    h_true = feldpausch_height(d) * np.exp(gen.normal(0, 0.1, d.size))
    measured = gen.random(d.size) < measured_share
    return Inventory(
        tree_plot=plot,
        dbh_cm=d,
        height_m=np.where(measured, h_true, np.nan),
        wood_density=gen.uniform(0.4, 0.8, d.size),
        wood_density_sd=np.full(d.size, 0.1),
        wood_density_source=np.full(d.size, "genus"),
        plot_id=np.array([f"P{i}" for i in range(n_plots)]),
        plot_stratum=np.array(["s"] * n_plots),
        area_ha=np.ones(n_plots),
        subplot_area_ha=np.ones(n_plots),
        subplot_max_dbh_cm=np.zeros(n_plots),
        **extra,
    )


def test_all_errors_off_equals_the_deterministic_sum(rng):
    inv = make_inventory(rng)
    hd = inv.height_model()
    draws = plot_agb_draws(inv, hd, 5, seed=1, sources=ErrorSources.none())
    det = plot_agb_deterministic(inv, hd)
    for k in range(5):
        np.testing.assert_allclose(draws[:, k], det, rtol=1e-12)
    # and the deterministic sum is Eq. 4 with the posterior-mean coefficients, tree by tree
    a, b, s = load_eq4_posterior().central()
    h = np.where(np.isfinite(inv.height_m), inv.height_m, hd.predict(inv.dbh_cm))
    agb = chave2014_agb(inv.wood_density, inv.dbh_cm, h, a + s**2 / 2, b)
    np.testing.assert_allclose(det, np.bincount(inv.tree_plot, agb) / 1000, rtol=1e-12)
    # which is within 1% of the published Eq. 4
    published = np.bincount(inv.tree_plot, chave2014_agb(inv.wood_density, inv.dbh_cm, h)) / 1000
    np.testing.assert_allclose(det, published, rtol=0.01)


@pytest.mark.parametrize(
    "source",
    ["diameter", "wood_density", "height", "allometry", "coefficients", "height_model"],
)
def test_each_source_adds_spread_and_all_together_add_most(rng, source):
    inv = make_inventory(rng)
    hd = inv.height_model()
    alone = plot_agb_draws(inv, hd, 300, seed=2, sources=ErrorSources.only(source))
    every = plot_agb_draws(inv, hd, 300, seed=2)
    assert np.all(alone.std(axis=1) > 0)
    assert np.all(every.std(axis=1) > 0.9 * alone.std(axis=1))


def test_allometric_residual_keeps_the_mean(rng):
    inv = make_inventory(rng, n_plots=1)
    hd = inv.height_model()
    draws = plot_agb_draws(inv, hd, 4000, seed=3, sources=ErrorSources.only("allometry"))[0]
    det = plot_agb_deterministic(inv, hd)[0]
    assert draws.mean() == pytest.approx(det, rel=0.01)


def test_shared_factors_are_common_to_all_plots(rng):
    inv = make_inventory(rng, n_plots=4)
    hd = inv.height_model()
    shared = plot_agb_draws(inv, hd, 400, seed=4, sources=ErrorSources.shared())
    indep = plot_agb_draws(inv, hd, 400, seed=4, sources=ErrorSources.independent())
    corr_shared = np.corrcoef(shared)[np.triu_indices(4, 1)]
    corr_indep = np.corrcoef(indep)[np.triu_indices(4, 1)]
    assert np.all(corr_shared > 0.9)  # coefficients and H-D parameters move every plot together
    assert np.all(np.abs(corr_indep) < 0.25)
    # the shared draws are the same with or without the independent sources
    full = plot_agb_draws(inv, hd, 400, seed=4)
    ratio = full.mean(axis=0) / indep.mean()
    assert np.corrcoef(ratio, shared.mean(axis=0))[0, 1] > 0.3  # ~0 if they were redrawn


def test_coefficient_uncertainty_is_about_one_percent_of_a_stand():
    # BIOMASS draws one Eq. 4 coefficient set per iteration: CV ~1% of the total
    gen = np.random.default_rng(11)
    inv = make_inventory(gen, n_plots=4, trees_per_plot=500)
    draws = plot_agb_draws(inv, inv.height_model(), 1000, 5, ErrorSources.only("coefficients"))
    total = draws.sum(axis=0)
    assert 0.003 < total.std() / total.mean() < 0.03


def test_fallback_wood_density_error_is_shared():
    gen = np.random.default_rng(12)
    base = make_inventory(gen, n_plots=2, trees_per_plot=500)
    group = np.zeros(base.dbh_cm.size, dtype=np.int64)
    inv = make_inventory(
        np.random.default_rng(12),
        n_plots=2,
        trees_per_plot=500,
        wood_density_group=group,
        wood_density_group_se=np.array([0.05]),
    )
    draws = plot_agb_draws(inv, inv.height_model(), 500, 6, ErrorSources.only("wood_density_mean"))
    total = draws.sum(axis=0)
    # all trees shifted together by N(0, 0.05) on a mean of 0.6: CV ~ 0.05 / 0.6 x 0.976
    assert total.std() / total.mean() == pytest.approx(0.05 / 0.6 * 0.976, rel=0.25)
    assert np.corrcoef(draws)[0, 1] > 0.99


def test_palms_use_the_palm_model(rng):
    inv = make_inventory(rng, n_plots=1, trees_per_plot=200)
    palm = np.zeros(inv.dbh_cm.size, bool)
    palm[:50] = True
    from dataclasses import replace

    with_palms = replace(inv, is_palm=palm)
    hd = inv.height_model()
    det = plot_agb_deterministic(with_palms, hd)[0]
    a, b, s = load_eq4_posterior().central()
    h = np.where(np.isfinite(inv.height_m), inv.height_m, hd.predict(inv.dbh_cm))
    dicot = chave2014_agb(inv.wood_density, inv.dbh_cm, h, a + s**2 / 2, b)
    by_hand = np.where(palm, goodman2013_palm_agb(inv.dbh_cm), dicot).sum() / 1000
    assert det == pytest.approx(by_hand, rel=1e-12)


def test_nested_subplots_expand_small_trees():
    inv = Inventory(
        tree_plot=np.zeros(3, dtype=np.int64),
        dbh_cm=np.array([12.0, 25.0, 60.0]),
        height_m=np.full(3, 20.0),
        wood_density=np.full(3, 0.6),
        wood_density_sd=np.zeros(3),
        wood_density_source=np.full(3, "genus"),
        plot_id=np.array(["P"]),
        plot_stratum=np.array(["s"]),
        area_ha=np.array([1.0]),
        subplot_area_ha=np.array([0.25]),
        subplot_max_dbh_cm=np.array([20.0]),
    )
    np.testing.assert_allclose(expansion_factors(inv), [4.0, 1.0, 1.0])


@pytest.mark.parametrize(
    "form,truth",
    [
        ("log2", lambda d: np.exp(0.2 + 1.2 * np.log(d) - 0.08 * np.log(d) ** 2)),
        ("michaelis", lambda d: 45.0 * d / (25.0 + d)),
    ],
)
def test_height_model_selection_recovers_the_generating_form(rng, form, truth):
    d = 10 + rng.exponential(25.0, 3000)
    h = truth(d) + rng.normal(0, 0.5, d.size)
    hd = fit_height_model(d, h)
    assert set(hd.rse_by_form) == {"log1", "log2", "log3", "weibull", "michaelis"}
    assert hd.rse == pytest.approx(min(hd.rse_by_form.values()))
    if form == "michaelis":
        assert hd.form == "michaelis"
    else:
        assert hd.form in ("log2", "log3")  # log3 nests log2
    assert np.abs(hd.predict(d) - truth(d)).max() < 1.0


def test_height_model_parameter_draws_match_the_fit(rng):
    d = 10 + rng.exponential(25.0, 400)
    h = 45.0 * d / (25.0 + d) + rng.normal(0, 3.0, d.size)
    hd = fit_height_model(d, h, "michaelis", "d2h")
    draws = hd.draw_params(np.random.default_rng(1), 4000)
    np.testing.assert_allclose(draws.mean(axis=0), hd.params, rtol=0.01)
    np.testing.assert_allclose(np.cov(draws.T), hd.cov, rtol=0.1)
    # weighted and unweighted fits differ, both near the truth
    un = fit_height_model(d, h, "michaelis", "none")
    assert hd.params != un.params
    assert abs(hd.params[0] - 45.0) < 5 and abs(un.params[0] - 45.0) < 5


def test_height_model_needs_min_heights():
    with pytest.raises(ValueError, match=f"at least {MIN_HEIGHTS}"):
        fit_height_model(np.arange(10, 10.0 + MIN_HEIGHTS - 1), np.arange(5, 4.0 + MIN_HEIGHTS))


def test_too_few_heights_fall_back_to_feldpausch(rng):
    inv = make_inventory(rng, n_plots=1, trees_per_plot=200, measured_share=0.02)
    hd = inv.height_model()
    assert hd.models[0].form == "feldpausch" and hd.how == ("regional",)
    np.testing.assert_allclose(hd.models[0].predict(30.0), feldpausch_height(30.0))


def test_candidate_agb_reports_every_form(rng):
    inv = make_inventory(rng)
    cands = candidate_agb(inv, inv.height_model())
    assert set(cands) == {"log1", "log2", "log3", "weibull", "michaelis"}
    values = np.array([v.sum() for v in cands.values()])
    assert values.std() / values.mean() < 0.1


def test_error_budget_adds_up_and_responds_to_its_inputs(rng):
    inv = make_inventory(rng, n_plots=4)
    inv = Inventory(**{**inv.__dict__, "plot_stratum": np.array(["a", "a", "b", "b"])})
    hd = inv.height_model()
    args = dict(carbon_fraction=(0.47, 0.0206), root_shoot=(0.37, 0.04))
    budget = error_budget(inv, hd, ["a", "b"], 200, 1, np.array([0.04, 0.09]), **args)
    parts = [
        k for k in budget if k not in ("total", "independent", "shared", "height_model_choice")
    ]
    np.testing.assert_allclose(budget["total"], np.sum([budget[k] for k in parts], axis=0))
    assert np.all(budget["shared"] > 0) and np.all(budget["independent"] > 0)
    assert np.all(budget["coefficients"] > 0)
    assert budget["sampling"][1] > budget["sampling"][0]
    no_sampling = error_budget(inv, hd, ["a", "b"], 200, 1, np.zeros(2), **args)
    assert np.all(no_sampling["total"] < budget["total"])
