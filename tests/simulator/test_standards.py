"""Uncertainty deduction and buffer rules: worked examples, edges and properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.accounting.standards import (
    NOT_AVAILABLE,
    STANDARDS,
    art_trees_deduction_fraction,
    deduction,
    fcpf_conservativeness_factor,
    ipcc_propagate_product,
    ipcc_propagate_sum,
    non_permanence_buffer,
    relative_half_width,
    vcs_deduction_fraction,
    vcs_uncertainty_factor,
)

# ----------------------------------------------------------------- VCS VM0007 / VMD0017


@pytest.mark.parametrize(
    ("u", "factor"),
    [
        (0.10, 1.0),  # within the allowable 15%: no deduction
        (0.12, 1.0),
        (0.15, 1.0),  # exactly at the threshold
        (0.25, 0.90),  # VM0007 v1.8 §8.4-8.6: 100% - 25% + 15% = 90%
        (0.40, 0.75),
    ],
)
def test_vm0007_adjustment_worked_examples(u, factor):
    assert float(vcs_uncertainty_factor(u)) == pytest.approx(factor, abs=1e-12)
    assert float(vcs_deduction_fraction(u)) == pytest.approx(1 - factor, abs=1e-12)


def test_vm0007_versions_differ_in_confidence_level():
    assert STANDARDS["VM0007-1.8"].confidence == 0.90
    assert STANDARDS["VM0007-1.6"].confidence == 0.95
    assert "8.4" in STANDARDS["VM0007-1.8"].citation
    assert "VMD0017" in STANDARDS["VM0007-1.6"].citation


def test_same_draws_deduct_more_at_95_percent(rng):
    ner = rng.normal(1000.0, 100.0, 200_000)  # U90 = 16.4%, U95 = 19.6%
    d90 = deduction(STANDARDS["VM0007-1.8"], ner)
    d95 = deduction(STANDARDS["VM0007-1.6"], ner)
    assert float(d90.uncertainty) == pytest.approx(0.1645, abs=0.002)
    assert float(d95.uncertainty) == pytest.approx(0.196, abs=0.002)
    assert float(d95.deduction) > float(d90.deduction) > 0


# ----------------------------------------------------------------- ART TREES v2.0


@pytest.mark.parametrize(
    ("hw", "ua"), [(0.10, 0.031879), (0.20, 0.063759), (0.50, 0.159397), (0.0, 0.0)]
)
def test_art_trees_eq11_worked_examples(hw, ua):
    # TREES v2.0 §8 Eq. 11: UA = 0.524417 x HW90% / 1.645006
    assert float(art_trees_deduction_fraction(hw)) == pytest.approx(ua, abs=5e-7)


def test_art_trees_constants_are_t_quantiles():
    from scipy import stats

    from simulator.accounting.standards import ART_T70, ART_T95

    assert stats.t.ppf(0.70, 10_000) == pytest.approx(ART_T70, abs=1e-6)
    assert stats.t.ppf(0.95, 10_000) == pytest.approx(ART_T95, abs=1e-6)


def test_art_trees_deducts_from_gross_reductions(rng):
    gross = rng.normal(1000.0, 50.0, 100_000)
    ner = 0.9 * gross  # leakage 10%
    d = deduction(STANDARDS["ART-TREES-2.0"], ner, gross)
    ua = float(art_trees_deduction_fraction(d.uncertainty))
    assert float(d.deduction) == pytest.approx(ua * gross.mean(), rel=1e-12)
    # Eq. 11 takes the 90% CI of gross reductions, not of NER: a leakage that varies
    # from draw to draw widens NER's interval but leaves UA alone.
    ner_noisy = gross - rng.normal(100.0, 80.0, gross.size)
    d2 = deduction(STANDARDS["ART-TREES-2.0"], ner_noisy, gross)
    assert float(d2.uncertainty) == pytest.approx(
        float(relative_half_width(gross, 0.90)["uncertainty"]), rel=1e-12
    )
    with pytest.raises(ValueError, match="gross"):
        deduction(STANDARDS["ART-TREES-2.0"], ner)
    assert STANDARDS["ART-TREES-2.0"].min_draws == 10_000


# ----------------------------------------------------------------- FCPF Carbon Fund


@pytest.mark.parametrize(
    ("margin", "factor"),
    [
        (0.0, 0.0),
        (0.15, 0.0),  # "<= 15%" includes the edge
        (0.150001, 0.04),
        (0.30, 0.04),
        (0.45, 0.08),
        (0.60, 0.08),
        (0.99, 0.12),
        (1.00, 0.12),
        (1.0001, 0.15),
        (4.53, 0.15),
    ],
)
def test_fcpf_bands(margin, factor):
    assert float(fcpf_conservativeness_factor(margin)) == factor


def test_fcpf_worked_case_from_draws():
    # Median 249,020; 90% CI [-905,211; 1,350,196] -> margin 4.53 -> 15% set-aside.
    p = np.linspace(0.0, 1.0, 100_001)
    draws = np.interp(p, [0, 0.05, 0.5, 0.95, 1], [-1.5e6, -905_211, 249_020, 1_350_196, 2.0e6])
    stats = relative_half_width(draws, 0.90, "median")
    assert float(stats["centre"]) == pytest.approx(249_020)
    assert float(stats["uncertainty"]) == pytest.approx(4.5286, abs=1e-4)
    d = deduction(STANDARDS["FCPF-CF"], draws)
    assert float(d.fraction) == 0.15
    assert float(d.deduction) == pytest.approx(0.15 * draws.mean())


# ----------------------------------------------------------------- edges of applying a rule


@pytest.mark.parametrize("key", sorted(STANDARDS))
def test_non_positive_estimate_has_no_deduction(key):
    ner = np.linspace(-500.0, 100.0, 1001)  # mean -200
    d = deduction(STANDARDS[key], ner, ner)
    assert float(d.deduction) == 0.0 and float(d.adjusted) == pytest.approx(-200.0)
    zero = deduction(STANDARDS[key], np.zeros(100), np.zeros(100))
    assert float(zero.deduction) == 0.0 and float(zero.adjusted) == 0.0


def test_ci_crossing_zero_never_deducts_more_than_the_estimate(rng):
    ner = rng.normal(100.0, 200.0, 100_000)  # U90 ~ 329%
    d = deduction(STANDARDS["VM0007-1.8"], ner)
    assert float(d.uncertainty) > 1.15
    assert float(vcs_uncertainty_factor(d.uncertainty)) < 0  # the formula alone would debit
    assert float(d.deduction) == pytest.approx(float(d.estimate))
    assert float(d.adjusted) == pytest.approx(0.0, abs=1e-9)


def test_rules_reject_negative_or_missing_uncertainty():
    for rule in (
        vcs_uncertainty_factor,
        art_trees_deduction_fraction,
        fcpf_conservativeness_factor,
    ):
        with pytest.raises(ValueError, match="non-negative"):
            rule(-0.1)
        with pytest.raises(ValueError):
            rule(np.nan)


# ----------------------------------------------------------------- properties

RULES = [vcs_deduction_fraction, art_trees_deduction_fraction, fcpf_conservativeness_factor]


@pytest.mark.parametrize("rule", RULES)
@given(u1=st.floats(0, 10), u2=st.floats(0, 10))
def test_each_rule_is_monotone(rule, u1, u2):
    lo, hi = sorted((u1, u2))
    assert 0.0 <= float(rule(lo)) <= float(rule(hi))


@pytest.mark.parametrize("key", sorted(STANDARDS))
@settings(max_examples=30, deadline=None)
@given(mean=st.floats(10, 1e6), spread1=st.floats(0, 3), spread2=st.floats(0, 3))
def test_more_uncertainty_never_gives_more_credits(key, mean, spread1, spread2):
    z = np.linspace(-3, 3, 2001)  # fixed symmetric shape: mean and median stay at `mean`
    lo, hi = sorted((spread1, spread2))
    narrow = deduction(STANDARDS[key], mean * (1 + lo * z / 3), mean * (1 + lo * z / 3))
    wide = deduction(STANDARDS[key], mean * (1 + hi * z / 3), mean * (1 + hi * z / 3))
    assert float(wide.adjusted) <= float(narrow.adjusted) + 1e-9 * mean
    # a deduction never adds credits and never removes more than there is
    for d in (narrow, wide):
        assert 0.0 <= float(d.deduction) <= float(d.estimate) + 1e-9 * mean


# ----------------------------------------------------------------- buffer


def test_buffer_is_risk_share_of_positive_base():
    assert non_permanence_buffer(1_000_000, 15) == pytest.approx(150_000)
    np.testing.assert_allclose(non_permanence_buffer([-5.0, 200.0], 10), [0.0, 20.0])


def test_left_out_rules_say_why():
    assert {"VM0048-1.0 / VMD0055-1.1", "CDM conservativeness factors"} <= set(NOT_AVAILABLE)
    assert all(why.startswith("not implemented: ") for why in NOT_AVAILABLE.values())


# ----------------------------------------------------------------- IPCC Approach 1


def test_ipcc_eq31_and_eq32_known_answers():
    assert float(ipcc_propagate_product([0.3, 0.4])) == pytest.approx(0.5)
    # Eq. 3.2: two equal, independent terms -> U / sqrt(2)
    assert float(ipcc_propagate_sum([50.0, 50.0], [0.2, 0.2])) == pytest.approx(0.2 / np.sqrt(2))
    # a term with a negative sign still adds uncertainty; the total is |sum|
    assert float(ipcc_propagate_sum([100.0, -50.0], [0.1, 0.1])) == pytest.approx(
        np.hypot(10.0, 5.0) / 50.0
    )


def test_ipcc_is_homogeneous_in_percent_or_fraction():
    frac = ipcc_propagate_product([0.1, 0.2, 0.05])
    pct = ipcc_propagate_product([10.0, 20.0, 5.0])
    assert float(pct) == pytest.approx(100 * float(frac))


def test_approach1_matches_monte_carlo_for_small_independent_errors(rng):
    x = rng.normal(100.0, 2.0, 400_000)
    y = rng.normal(50.0, 1.5, 400_000)
    u = [float(relative_half_width(v, 0.95)["uncertainty"]) for v in (x, y)]
    mc = float(relative_half_width(x * y, 0.95)["uncertainty"])
    assert float(ipcc_propagate_product(u)) == pytest.approx(mc, rel=0.02)
    s = float(relative_half_width(x + y, 0.95)["uncertainty"])
    assert float(ipcc_propagate_sum([100.0, 50.0], u)) == pytest.approx(s, rel=0.02)
