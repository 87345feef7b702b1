"""Accounting chain: NER, interval summaries, VCS order of deductions."""

import numpy as np
import pytest
from scipy import stats

from simulator.accounting import (
    account,
    compare_standards,
    interval_summary,
    net_emission_reductions,
)
from simulator.accounting.standards import STANDARDS
from simulator.engine.kernels import SimulationResult

VM0007 = STANDARDS["VM0007-1.8"]


def _sim(baseline, project, leakage):
    loss = np.ones_like(baseline)
    return SimulationResult(baseline, project, leakage, loss, seed=0, draw_start=0)


def test_interval_summary_of_a_normal_sample(rng):
    x = rng.normal(1000.0, 100.0, size=(400_000, 1))
    s = interval_summary(x, 0.90)
    z = stats.norm.ppf(0.95)
    assert s["mean"][0] == pytest.approx(1000.0, abs=1.0)
    assert s["half_width"][0] == pytest.approx(100.0 * z, rel=0.01)
    assert s["uncertainty"][0] == pytest.approx(0.1 * z, rel=0.01)
    # batch-means MC errors are of the size asymptotic theory gives
    se_q = np.sqrt(0.05 * 0.95 / x.shape[0]) / (stats.norm.pdf(z) / 100.0)  # p(1-p)/n / f(q)^2
    assert 0.5 * se_q < s["ci_low_mcse"][0] < 2.0 * se_q
    assert 0.5 * 100 / np.sqrt(x.shape[0]) < s["mean_mcse"][0] < 2.0 * 100 / np.sqrt(x.shape[0])


def test_account_applies_the_vcs_order(rng):
    n, years = 200_000, 3
    base = rng.normal(1000.0, 150.0, (n, years))
    proj = 0.2 * base
    leak = 0.1 * (base - proj)
    ds = account(_sim(base, proj, leak), VM0007, buffer_pct=20, start_year=2026)
    assert list(ds.period.values) == ["2026", "2027", "2028", "total"]
    ner = net_emission_reductions(base, proj, leak)
    total = ner.sum(axis=1)
    tot = ds.sel(period="total")
    assert float(tot.ner_mean) == pytest.approx(total.mean(), rel=1e-12)
    u = (np.quantile(total, 0.95) - np.quantile(total, 0.05)) / 2 / total.mean()
    assert float(tot.uncertainty_pct) == pytest.approx(100 * u, rel=1e-9)
    assert float(tot.adjustment_factor) == pytest.approx(min(1.0, 1.15 - u), rel=1e-9)
    # buffer on the unadjusted stock change, leakage excluded
    stock = (base - proj).sum(axis=1).mean()
    assert float(tot.buffer) == pytest.approx(0.20 * stock, rel=1e-12)
    assert float(tot.credits) == pytest.approx(
        float(tot.adjusted_ner) - float(tot.buffer), rel=1e-12
    )
    assert float(tot.uncertainty_deduction) == pytest.approx(
        float(tot.ner_mean) - float(tot.adjusted_ner), rel=1e-12
    )


def test_large_uncertainty_is_deducted_and_small_is_not(rng):
    n = 100_000
    wide = rng.normal(100.0, 30.0, (n, 1))  # U = 1.645 * 0.3 = 49%
    narrow = rng.normal(100.0, 5.0, (n, 1))  # U = 8%
    zero = np.zeros((n, 1))
    w = account(_sim(wide, zero, zero), VM0007, 10, 2026).sel(period="total")
    s = account(_sim(narrow, zero, zero), VM0007, 10, 2026).sel(period="total")
    assert float(w.adjustment_factor) == pytest.approx(1.15 - 1.645 * 0.3, abs=0.01)
    assert float(s.adjustment_factor) == 1.0
    assert float(s.uncertainty_deduction) == 0.0


def test_buffer_and_uncertainty_order_by_hand():
    """Baseline 1000, project 200, leakage 80 in every draw: NER 720, no uncertainty.

    VCS withholds the 20% buffer on the stock change (1000 - 200 = 800): 160, so
    credits are 720 - 160 = 560, not 720 x 0.8 = 576. ART TREES withholds its buffer
    on gross reductions too (calculation template, Eq. 8: BUF = GHG ER x BUF%), so
    560; FCPF (buffer on NER after the uncertainty deduction) gives 576.
    """
    ones = np.ones((50, 1))
    sim = _sim(1000 * ones, 200 * ones, 80 * ones)
    side = compare_standards(sim, buffer_pct=20, start_year=2026).sel(period="total")
    credits = dict(zip(side.standard.values, side.credits.values, strict=True))
    assert credits["VM0007-1.8"] == pytest.approx(560.0)
    assert credits["VM0007-1.6"] == pytest.approx(560.0)
    assert credits["FCPF-CF"] == pytest.approx(576.0)
    assert credits["VCS-MR-4.4"] == pytest.approx(560.0)
    assert credits["ART-TREES-2.0"] == pytest.approx(560.0)
    assert np.all(side.uncertainty_deduction.values == 0.0)


def test_side_by_side_rows_are_the_single_standard_accounts(rng):
    base = rng.normal(1000.0, 200.0, (20_000, 4))
    sim = _sim(base, 0.25 * base, 0.05 * base)
    side = compare_standards(sim, buffer_pct=15, start_year=2030)
    assert list(side.standard.values) == sorted(STANDARDS, key=list(STANDARDS).index)
    assert list(side.period.values) == ["2030", "2031", "2032", "2033", "total"]
    for key, std in STANDARDS.items():
        single = account(sim, std, 15, 2030)
        for var in ("uncertainty_pct", "uncertainty_deduction", "buffer", "credits"):
            np.testing.assert_array_equal(side[var].sel(standard=key).values, single[var].values)
        assert float(side.confidence.sel(standard=key, period="total")) == std.confidence


def test_ipcc_comparison_on_a_small_simulation(rng):
    from simulator.accounting import ipcc_comparison
    from simulator.engine.kernels import simulate
    from tests.conftest import make_inputs

    inputs = make_inputs(rng)
    sim = simulate(inputs, 20_000, seed=1)
    result = ipcc_comparison(sim, inputs)
    us = [u for _, _, u in result["components"]]
    assert len(us) == 4 and all(u > 0 for u in us)
    assert result["approach1"] == pytest.approx(np.sqrt(np.sum(np.square(us))))
    # Approach 1 and the Monte Carlo agree to within a factor when errors are moderate
    assert 0.6 < result["approach1"] / result["approach2"] < 1.4
