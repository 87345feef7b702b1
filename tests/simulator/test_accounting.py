"""Accounting chain: NER, interval summaries, VCS order of deductions."""

import numpy as np
import pytest
from scipy import stats

from simulator.accounting import account, interval_summary, net_emission_reductions
from simulator.kernels import SimulationResult
from simulator.standards import STANDARDS

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
