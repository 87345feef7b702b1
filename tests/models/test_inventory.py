"""Tree-level Monte Carlo of plot AGB: known answers, each error source, giant trees."""

import numpy as np
import pytest

from models.allometry import (
    chave2014_agb,
    feldpausch_height,
    fit_height_model,
    loglog_height,
    michaelis_menten_height,
)
from models.inventory import (
    REGIONAL_WOOD_DENSITY,
    ErrorSources,
    Inventory,
    WoodDensityTable,
    assign_wood_density,
    expansion_factors,
    plot_agb_deterministic,
    plot_agb_draws,
)


def make_inventory(gen, n_plots=3, trees_per_plot=400, giant=None, measured_share=0.3):
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
    )


def test_all_errors_off_equals_the_deterministic_sum(rng):
    inv = make_inventory(rng)
    hd = inv.height_model()
    draws = plot_agb_draws(inv, hd, 5, seed=1, sources=ErrorSources.none())
    det = plot_agb_deterministic(inv, hd)
    for k in range(5):
        np.testing.assert_allclose(draws[:, k], det, rtol=1e-12)
    # and the deterministic sum is Chave Eq. 4 tree by tree
    h = np.where(np.isfinite(inv.height_m), inv.height_m, hd.predict(inv.dbh_cm))
    by_hand = np.bincount(inv.tree_plot, chave2014_agb(inv.wood_density, inv.dbh_cm, h)) / 1000
    np.testing.assert_allclose(det, by_hand, rtol=1e-12)


@pytest.mark.parametrize("source", ["diameter", "wood_density", "height", "allometry"])
def test_each_error_source_on_its_own_widens_the_interval(rng, source):
    inv = make_inventory(rng)
    hd = inv.height_model()
    alone = plot_agb_draws(inv, hd, 300, seed=2, sources=ErrorSources.only(source))
    every = plot_agb_draws(inv, hd, 300, seed=2)
    assert np.all(alone.std(axis=1) > 0)
    assert np.all(every.std(axis=1) > alone.std(axis=1))


def test_allometric_residual_preserves_the_mean_and_has_the_known_spread(rng):
    inv = make_inventory(rng, n_plots=1, trees_per_plot=300)
    hd = inv.height_model()
    draws = plot_agb_draws(inv, hd, 4000, seed=3, sources=ErrorSources.only("allometry"))[0]
    h = np.where(np.isfinite(inv.height_m), inv.height_m, hd.predict(inv.dbh_cm))
    agb = chave2014_agb(inv.wood_density, inv.dbh_cm, h) / 1000
    # independent log-normal residuals (sigma 0.357): var = sum agb_i^2 (exp(sigma^2) - 1)
    expected_sd = np.sqrt(np.sum(agb**2) * np.expm1(0.357**2))
    assert draws.mean() == pytest.approx(agb.sum(), rel=0.005)
    assert draws.std() == pytest.approx(expected_sd, rel=0.05)


def test_a_single_giant_tree_dominates_the_plot_uncertainty(rng):
    plain = make_inventory(np.random.default_rng(5), n_plots=1, trees_per_plot=450)
    giant = make_inventory(np.random.default_rng(5), n_plots=1, trees_per_plot=450, giant=220.0)
    sds = []
    for inv in (plain, giant):
        hd = inv.height_model()
        sds.append(plot_agb_draws(inv, hd, 500, seed=4).std())
    assert sds[1] > 2 * sds[0]
    # the giant tree alone holds most of the allometric variance of its plot
    h = np.where(
        np.isfinite(giant.height_m), giant.height_m, giant.height_model().predict(giant.dbh_cm)
    )
    agb = chave2014_agb(giant.wood_density, giant.dbh_cm, h)
    assert agb[0] ** 2 / np.sum(agb**2) > 0.5


def test_nested_subplots_expand_small_trees():
    inv = Inventory(
        tree_plot=np.array([0, 0, 0]),
        dbh_cm=np.array([12.0, 19.9, 45.0]),
        height_m=np.array([np.nan] * 3),
        wood_density=np.full(3, 0.6),
        wood_density_sd=np.zeros(3),
        wood_density_source=np.full(3, "genus"),
        plot_id=np.array(["A"]),
        plot_stratum=np.array(["s"]),
        area_ha=np.array([1.0]),
        subplot_area_ha=np.array([0.25]),
        subplot_max_dbh_cm=np.array([20.0]),
    )
    np.testing.assert_allclose(expansion_factors(inv), [4.0, 4.0, 1.0])


@pytest.mark.parametrize(
    ("truth", "params", "form"),
    [
        (loglog_height, (1.0, 0.55), "loglog"),
        (michaelis_menten_height, (45.0, 30.0), "michaelis_menten"),
    ],
)
def test_height_model_selection_recovers_the_generating_form(rng, truth, params, form):
    d = rng.uniform(10, 150, 400)
    noise = rng.normal(0, 0.08, d.size)
    h = (
        truth(d, *params) * np.exp(noise)
        if form == "loglog"
        else truth(d, *params) + 3 * noise * 10
    )
    hd = fit_height_model(d, h)
    assert hd.form == form
    assert hd.rse == pytest.approx(min(hd.rse_by_form.values()))
    np.testing.assert_allclose(hd.params, params, rtol=0.1)


def test_height_model_needs_ten_heights():
    with pytest.raises(ValueError, match="at least 10"):
        fit_height_model(np.arange(10, 19.0), np.arange(5, 14.0))


def test_wood_density_sources():
    table = WoodDensityTable({"Dipteryx": 0.805}, {"Dipteryx": "test"})
    mean, sd, source = assign_wood_density(
        [0.5, np.nan, np.nan, np.nan], ["Dipteryx", "Dipteryx", "Indet", ""], table, 0.1, 0.02
    )
    assert source.tolist() == ["measured", "genus", "regional", "regional"]
    np.testing.assert_allclose(mean, [0.5, 0.805, *[REGIONAL_WOOD_DENSITY[0]] * 2])
    np.testing.assert_allclose(sd, [0.02, 0.1, *[REGIONAL_WOOD_DENSITY[1]] * 2])


def test_error_budget_adds_up_and_responds_to_its_inputs(rng):
    from models.inventory import error_budget

    inv = make_inventory(rng, n_plots=4, trees_per_plot=200)
    inv = Inventory(**{**inv.__dict__, "plot_stratum": np.array(["a", "a", "b", "b"])})
    hd = inv.height_model()
    args = dict(carbon_fraction=(0.47, 0.0206), root_shoot=(0.37, 0.04))
    budget = error_budget(inv, hd, ["a", "b"], 200, 1, np.array([0.04, 0.09]), **args)
    parts = [budget[k] for k in budget if k != "total"]
    np.testing.assert_allclose(np.sum(parts, axis=0), budget["total"])
    np.testing.assert_allclose(budget["sampling"], [0.02, 0.045])  # tau^2 / n plots
    np.testing.assert_allclose(budget["carbon_fraction"], (0.0206 / 0.47) ** 2)
    np.testing.assert_allclose(budget["root_shoot"], (0.04 / 1.37) ** 2)
    assert np.all(budget["allometry"] > 0) and np.all(budget["wood_density"] > 0)
    no_sampling = error_budget(inv, hd, ["a", "b"], 200, 1, np.zeros(2), **args)
    assert np.all(no_sampling["sampling"] == 0)
    np.testing.assert_allclose(no_sampling["allometry"], budget["allometry"])
