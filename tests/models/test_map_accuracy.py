"""Stratified area estimator against Olofsson et al. (2014) and its properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.map_accuracy import stratified_area_estimate

# Olofsson et al. (2014) §5, Table 8: sample counts (rows map, columns reference) and
# mapped areas (200,000 / 150,000 / 3,200,000 / 6,450,000 pixels of 0.09 ha).
COUNTS = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
MAPPED_HA = [18_000, 13_500, 288_000, 580_500]
CLASSES = ["deforestation", "forest_gain", "stable_forest", "stable_nonforest"]


def test_olofsson_2014_worked_example():
    est = stratified_area_estimate(COUNTS, MAPPED_HA, CLASSES)
    z = 1.959964
    # §5.2.2: error-adjusted areas and 95% half-widths (ha)
    np.testing.assert_allclose(est.area, [21_158, 11_686, 285_770, 581_386], atol=0.5)
    np.testing.assert_allclose(z * est.area_se, [6_158, 3_756, 15_510, 16_282], atol=1.0)
    # Table 9: estimated area proportions p_ij (4 dp)
    expected_p = [
        [0.0176, 0, 0.0013, 0.0011],
        [0, 0.0110, 0.0016, 0.0024],
        [0.0019, 0, 0.2967, 0.0213],
        [0.0040, 0.0020, 0.0179, 0.6212],
    ]
    np.testing.assert_allclose(est.proportions, expected_p, atol=5e-5)
    # §5.2.1: accuracies ± 95% half-widths (2 dp). Producer's half-widths: the paper
    # prints 0.23 and 0.01 for classes 2 and 4, its own Eq. 7 gives 0.254 and 0.018.
    np.testing.assert_allclose(est.users_accuracy, [0.88, 0.73, 0.93, 0.96], atol=0.005)
    np.testing.assert_allclose(z * est.users_accuracy_se, [0.07, 0.10, 0.04, 0.02], atol=0.005)
    np.testing.assert_allclose(est.producers_accuracy, [0.75, 0.85, 0.93, 0.96], atol=0.005)
    np.testing.assert_allclose(
        z * est.producers_accuracy_se, [0.21, 0.254, 0.03, 0.018], atol=0.005
    )
    assert est.overall_accuracy == pytest.approx(0.947, abs=0.0005)
    assert z * est.overall_accuracy_se == pytest.approx(0.02, abs=0.005)
    ds = est.to_dataset()
    assert list(ds["class"].values) == CLASSES
    assert float(ds.area_ci_low.sel({"class": "deforestation"})) == pytest.approx(
        21_158 - 6_158, abs=1
    )


def test_hand_checkable_two_class_example():
    # 10 samples per stratum; map "change" 100 ha (8 correct), "stable" 900 ha (1 omission)
    est = stratified_area_estimate([[8, 2], [1, 9]], [100.0, 900.0], ["change", "stable"])
    # area of change = 100 * 8/10 + 900 * 1/10 = 170 ha
    assert est.area[0] == pytest.approx(170.0)
    # SE = sqrt(0.1^2 * 0.8 * 0.2 / 9 + 0.9^2 * 0.1 * 0.9 / 9) * 1000
    assert est.area_se[0] == pytest.approx(1000 * np.sqrt(0.01 * 0.16 / 9 + 0.81 * 0.09 / 9))
    assert est.users_accuracy.tolist() == pytest.approx([0.8, 0.9])
    assert est.producers_accuracy[0] == pytest.approx(80 / 170)
    assert est.overall_accuracy == pytest.approx(0.1 * 0.8 + 0.9 * 0.9)


counts_matrix = st.integers(2, 5).flatmap(
    lambda k: st.lists(
        st.lists(st.integers(0, 40), min_size=k, max_size=k), min_size=k, max_size=k
    ).map(lambda rows: np.array(rows) + 2 * np.eye(k, dtype=int))
)


@settings(max_examples=60, deadline=None)
@given(counts=counts_matrix, seed=st.integers(0, 1000))
def test_areas_sum_to_the_mapped_total(counts, seed):
    mapped = np.random.default_rng(seed).uniform(10, 1e5, counts.shape[0])
    est = stratified_area_estimate(counts, mapped)
    assert est.area.sum() == pytest.approx(mapped.sum(), rel=1e-12)
    assert np.all(est.area >= 0) and np.all(est.area_se >= 0)
    assert 0 <= est.overall_accuracy <= 1


@settings(max_examples=40, deadline=None)
@given(counts=counts_matrix, scale=st.integers(2, 10))
def test_se_shrinks_as_the_sample_grows(counts, scale):
    mapped = np.linspace(100, 1000, counts.shape[0])
    small = stratified_area_estimate(counts, mapped)
    big = stratified_area_estimate(counts * scale, mapped)
    np.testing.assert_allclose(big.area, small.area, rtol=1e-12)  # same proportions
    assert np.all(big.area_se <= small.area_se + 1e-12)
    assert np.all(big.area_se[small.area_se > 0] < small.area_se[small.area_se > 0])


def test_perfect_map_has_zero_se_and_mapped_areas():
    est = stratified_area_estimate(np.diag([30, 40, 50]), [10.0, 20.0, 70.0])
    np.testing.assert_allclose(est.area, [10, 20, 70])
    np.testing.assert_allclose(est.area_se, 0)
    np.testing.assert_allclose(est.users_accuracy, 1)
    np.testing.assert_allclose(est.producers_accuracy, 1)
    assert est.overall_accuracy == 1 and est.overall_accuracy_se == 0


@pytest.mark.parametrize(
    ("counts", "mapped", "message"),
    [
        ([[5, 1], [0, 0]], [1.0, 2.0], "map class 1 has fewer than 2 sample units"),
        ([[5, -1], [1, 5]], [1.0, 2.0], "non-negative integers"),
        ([[5, 1, 0], [1, 5, 0]], [1.0, 2.0], "at least as many strata as classes"),
        ([[5, 1], [1, 5]], [1.0, 2.0, 3.0], "must have 2 values"),
        ([[5, 1], [1, 5]], [1.0, 0.0], "mapped areas must be positive"),
        ([[5.5, 1], [1, 5]], [1.0, 2.0], "non-negative integers"),
    ],
)
def test_bad_inputs_are_named(counts, mapped, message):
    with pytest.raises(ValueError, match=message):
        stratified_area_estimate(counts, mapped)


def test_buffer_stratum_design_estimates_area_without_accuracies():
    # strata: mapped loss, buffer of stable forest around it, interior stable forest;
    # classes: loss, forest. Omitted loss sits in the buffer, as the design intends.
    counts = [[45, 5], [6, 94], [0, 200]]
    mapped = [1_000.0, 9_000.0, 990_000.0]
    est = stratified_area_estimate(counts, mapped, ["loss", "forest"])
    assert est.area[0] == pytest.approx(1_000 * 0.9 + 9_000 * 0.06)
    assert est.area.sum() == pytest.approx(sum(mapped))
    assert est.area_se[0] == pytest.approx(
        np.sqrt(1_000**2 * 0.9 * 0.1 / 49 + 9_000**2 * 0.06 * 0.94 / 99)
    )
    assert np.all(np.isnan(est.users_accuracy)) and np.isnan(est.overall_accuracy)
    # with each stratum's map class (buffer and interior are map class "forest")
    acc = stratified_area_estimate(counts, mapped, ["loss", "forest"], stratum_map_class=[0, 1, 1])
    np.testing.assert_allclose(acc.area, est.area)
    assert acc.users_accuracy[0] == pytest.approx(0.9)
    assert acc.users_accuracy_se[0] == pytest.approx(np.sqrt(0.9 * 0.1 / 49))
    assert acc.producers_accuracy[0] == pytest.approx(900 / (900 + 540))
    assert acc.overall_accuracy == pytest.approx((1_000 * 0.9 + 9_000 * 0.94 + 990_000) / 1e6)
    with pytest.raises(ValueError, match="stratum 2 has fewer than 2"):
        stratified_area_estimate([[45, 5], [6, 94], [1, 0]], mapped)


# --------------------------------------------------------------------------- pooled over years


def test_pooled_proportions_match_sampling_the_hierarchical_model():
    """The grid posterior equals NUTS on the same beta-binomial model (BDA3 §5.3 prior)."""
    import pymc as pm
    import pytensor.tensor as pt

    from models.map_accuracy import pooled_proportions

    x = np.array([4, 2, 1, 4, 0, 2, 5, 0])
    n = np.full(8, 100)
    mean, cov = pooled_proportions(x, n)
    with pm.Model():
        u = pm.Flat("u")  # log(alpha / beta)
        v = pm.Flat("v")  # log(alpha + beta)
        total = pt.exp(v)
        alpha = total * pm.math.sigmoid(u)
        beta = total - alpha
        # p(u, v) ∝ alpha beta (alpha + beta)^(-5/2) (BDA3 §5.3, and its Jacobian)
        pm.Potential("prior", pt.log(alpha) + pt.log(beta) - 2.5 * v)
        p = pm.Beta("p", alpha, beta, shape=8)
        pm.Binomial("x", n=n, p=p, observed=x)
        tree = pm.sample(
            draws=4000, tune=2000, chains=2, target_accept=0.99, random_seed=4, progressbar=False
        )
    draws = tree.posterior["p"].values.reshape(-1, 8)
    se = draws.std(axis=0) / np.sqrt(1000)  # ESS >= 1000 of 8000 draws
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 4.5 * se)
    np.testing.assert_allclose(draws.std(axis=0), np.sqrt(np.diag(cov)), rtol=0.1)
    # the years share the hyperparameters: their errors are correlated, and a sum over
    # years has the variance of the full covariance, not of its diagonal
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.15 * cov.max())
    np.testing.assert_allclose(draws.sum(axis=1).var(), cov.sum(), rtol=0.1)
    assert abs(cov.sum() - np.trace(cov)) > 0.2 * np.trace(cov)


def test_a_year_without_loss_points_is_shrunk_toward_the_others():
    from models.map_accuracy import pooled_proportions

    x, n = np.array([3, 2, 0, 4, 2]), np.full(5, 100)
    mean, cov = pooled_proportions(x, n)
    assert 0 < mean[2] < x.sum() / n.sum() < mean[3] < x[3] / n[3]
    assert np.sqrt(cov[2, 2]) > 0.003  # not the design-based 0 +/- 0
    # no year with both loss and non-loss points: the data cannot inform the pooling
    assert pooled_proportions(np.zeros(5), n) is None
    assert pooled_proportions(n, n) is None


def test_pooled_loss_adds_the_strata_and_keeps_an_uninformed_stratum_design_based():
    from models.map_accuracy import pooled_loss_estimates, pooled_proportions

    strata = [["loss", "buffer", "stable"]] * 4
    mapped = [np.array([500.0, 2_000.0, 90_000.0])] * 4
    counts = [np.array([[80.0, 20.0], [b, 100.0 - b], [0.0, 200.0]]) for b in (3, 0, 2, 5)]
    got = pooled_loss_estimates(strata, mapped, counts)
    assert got["design_strata"] == ["stable"]
    ua, ua_cov = pooled_proportions(np.full(4, 80.0), np.full(4, 100.0))
    pb, pb_cov = pooled_proportions(np.array([3.0, 0, 2, 5]), np.full(4, 100.0))
    np.testing.assert_allclose(got["loss_ha"], 500 * ua + 2_000 * pb)
    np.testing.assert_allclose(got["loss_cov_ha2"], 500**2 * ua_cov + 2_000**2 * pb_cov)
    np.testing.assert_allclose(got["loss_se_ha"] ** 2, np.diag(got["loss_cov_ha2"]))
