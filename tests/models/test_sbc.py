"""Simulation-based calibration of each model (Talts et al. 2018), and its machinery.

The slow tests rank the true parameters of prior-drawn data sets among posterior
draws (``benchmarks.calibration``) and test uniformity at a family-wise 1% per
model. The fast tests check the machinery: ranks and both uniformity tests on
known cases, their detection of a too-narrow or biased posterior on a conjugate
model whose exact posterior is known, and that a compiled model with its data
swapped has the log density of a model built afresh from the same data.
"""

import numpy as np
import pytest
from scipy import stats

from benchmarks import calibration as cal
from models import biomass, deforestation, leakage
from simulator.config import load_config
from simulator.data import load_data
from simulator.engine.hazard import loss_fraction

N_VALUES = cal.RANK_DRAWS + 1


def test_rank_counts_draws_below_truth():
    draws = np.array([[0.1, 5.0], [0.3, 1.0], [0.2, 3.0]])
    np.testing.assert_array_equal(cal.rank(np.array([0.25, 0.5]), draws), [2, 0])


def test_chi_square_on_known_counts():
    stat, df, p = cal.chi_square_uniformity(np.arange(100), 100)
    assert (stat, df, p) == (0.0, 9, 1.0)
    # 20 ranks in the first bin, none in the second, 10 elsewhere: (100 + 100) / 10
    ranks = np.r_[np.arange(10), np.arange(10), np.arange(20, 100)]
    stat, _, p = cal.chi_square_uniformity(ranks, 100)
    assert stat == pytest.approx(20.0) and p == pytest.approx(stats.chi2.sf(20.0, 9))
    with pytest.raises(ValueError, match="equal bins"):
        cal.chi_square_uniformity(ranks, 101)


def test_ecdf_test_is_exact_under_uniformity_and_matches_its_band():
    gen = np.random.default_rng(5)
    sets = gen.integers(0, N_VALUES, (300, 100))
    p = np.array([cal.ecdf_uniformity(r, N_VALUES, n_sim=4000) for r in sets])
    # P(p <= 0.1) = 0.1 under uniformity: 99.9% binomial bounds on 300 sets
    lo, hi = stats.binom(300, 0.1).ppf([0.0005, 0.9995])
    assert lo <= np.sum(p <= 0.1) <= hi
    # p < 0.1 exactly when the ECDF leaves the 90% simultaneous band
    z, lower, upper = cal.ecdf_band(100, N_VALUES, 0.9, n_sim=4000)
    for r, pv in zip(sets[:100], p[:100], strict=True):
        ecdf = np.array([np.mean(r < j) for j in range(1, N_VALUES)])
        outside = np.any((ecdf < lower - 1e-12) | (ecdf > upper + 1e-12))
        if abs(pv - 0.1) > 0.01:  # away from the Monte Carlo edge of gamma
            assert outside == (pv < 0.1)
    assert cal.ecdf_uniformity(np.zeros(100, dtype=int), N_VALUES) < 1e-4


def _conjugate_ranks(gen, n_sets, sd_factor=1.0, shift=0.0):
    """theta ~ N(0, 1), y ~ N(theta, 1): exact posterior N(y / 2, 1 / 2)."""
    theta = gen.normal(size=n_sets)
    y = gen.normal(theta, 1.0)
    sd = np.sqrt(0.5) * sd_factor
    draws = gen.normal(y / 2 + shift * np.sqrt(0.5), sd, (cal.RANK_DRAWS, n_sets))
    return cal.rank(theta, draws)


@pytest.mark.parametrize(
    ("sd_factor", "shift", "calibrated"),
    [(1.0, 0.0, True), (0.5, 0.0, False), (1.0, 0.5, False), (1.6, 0.0, False)],
)
def test_sbc_tests_tell_an_exact_posterior_from_a_wrong_one(sd_factor, shift, calibrated):
    """With 200 data sets both tests pass the exact posterior and reject wrong ones."""
    ranks = _conjugate_ranks(np.random.default_rng(11), 200, sd_factor, shift)
    p_chi2 = cal.chi_square_uniformity(ranks, N_VALUES)[2]
    p_ecdf = cal.ecdf_uniformity(ranks, N_VALUES)
    if calibrated:
        assert min(p_chi2, p_ecdf) > 0.01
    else:
        assert max(p_chi2, p_ecdf) < 0.001


def test_thinning_keeps_draws_spread_over_chains():
    import xarray as xr

    x = np.arange(2 * 500, dtype=float).reshape(2, 500)
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset({"v": (("chain", "draw"), x)})})
    kept = cal.thinned(tree, "v")
    assert kept.shape == (cal.RANK_DRAWS,)
    np.testing.assert_array_equal(kept[:50], np.arange(0, 500, 10))
    np.testing.assert_array_equal(kept[50:], np.arange(500, 990, 10))


@pytest.fixture(scope="module")
def los_amigos():
    spec = load_config(cal.LOS_AMIGOS)
    return spec, load_data(spec)


def test_swapped_data_give_the_log_density_of_a_fresh_model(los_amigos):
    """The compiled-once models equal ``build_model`` on the same data, at random points."""
    spec, data = los_amigos
    cfg = spec.config
    probs = cal.problems(spec, data)
    gen = np.random.default_rng(3)
    strata = [s.name for s in cfg.project.strata]
    defo, belt = data.deforestation, data.leakage_belt
    for name, p in probs.items():
        _, y = p.simulate(int(gen.integers(2**31)))
        p.data.set_value(y)  # what nutpie's with_data does in the compiled model
        if name == "biomass":
            m = p.model["log_measurement_sd"].get_value()
            agb = np.exp(y)
            fresh = biomass.build_model(
                strata,
                data.plots["stratum"],
                agb,
                agb * np.sqrt(np.expm1(m**2)),
                cfg.biomass,
            )
        elif name == "deforestation":
            # y on the cloglog scale; its SD s is the design's: back to loss and SE
            s_y = p.model["log_hazard_obs_sd"].get_value()
            forest = defo["forest_area_ha"]
            r = loss_fraction(y)
            jac = 1.0 / ((1 - r) * (-np.log1p(-r)) * forest)  # d y / d loss
            se = s_y / jac
            # the design's error covariance on the cloglog scale, back to ha^2
            cov = p.model["log_hazard_obs_cov"].get_value() / np.outer(jac, jac)
            fresh = deforestation.build_model(
                defo["year"], forest, r * forest, se, cfg.deforestation, loss_cov_ha2=cov
            )
        else:
            fresh = leakage.build_model(
                belt["year"],
                belt["avoided_ha"],
                y,
                belt["belt_baseline_ha"],
                belt["belt_se_ha"],
                cfg.leakage,
            )
        swapped_logp, fresh_logp = p.model.compile_logp(), fresh.compile_logp()
        base = fresh.initial_point()
        for _ in range(3):
            point = {k: v + gen.normal(0.0, 0.3, np.shape(v)) for k, v in base.items()}
            assert swapped_logp(point) == pytest.approx(fresh_logp(point), rel=1e-9), name
        # and the swap is what makes them agree: other data give another density
        p.data.set_value(y * 1.01 + 0.01)
        assert swapped_logp(point) != pytest.approx(fresh_logp(point), rel=1e-6), name


@pytest.mark.slow
@pytest.mark.parametrize("model", ["biomass", "deforestation", "leakage"])
def test_sbc_ranks_are_uniform(calibration_study, model):
    rows = cal.sbc_table(calibration_study, model)
    failed = [
        f"{r['quantity']}: p_chi2={r['p_chi2']:.2g}, p_ecdf={r['p_ecdf']:.2g}"
        for r in rows
        if not r["passed"]
    ]
    assert not failed, f"{model} ranks not uniform (threshold {rows[0]['threshold']:.2g}): {failed}"


@pytest.mark.slow
@pytest.mark.parametrize("model", ["biomass", "deforestation", "leakage"])
def test_sbc_fits_pass_the_runs_sampler_gate(calibration_study, model):
    """At the run's own sampler settings, >= 95% of prior-drawn fits pass the run's gate."""
    passed = calibration_study.diagnostics[model]["passed"]
    assert sum(passed) >= 0.95 * len(passed), (
        f"{model}: {sum(passed)} of {len(passed)} fits pass the sampler gate"
    )


@pytest.mark.slow
def test_the_study_report_is_written_and_reads_back(calibration_study, tmp_path):
    """``python -m benchmarks.calibration``'s files, and the study they keep to redraw."""
    from benchmarks.calibration_report import load_study, write_report

    md = write_report(calibration_study, tmp_path, command="test")
    assert (tmp_path / "calibration.md").read_text() == md
    for model in ("biomass", "deforestation", "leakage"):
        assert (tmp_path / f"sbc_{model}_ranks.png").stat().st_size > 0
    again = load_study(tmp_path / "calibration.json")
    assert again.ranks == calibration_study.ranks
    assert again.samplers == calibration_study.samplers
    assert again.samplers["biomass"]["draws"] == load_config(cal.LOS_AMIGOS).config.sampler.draws
