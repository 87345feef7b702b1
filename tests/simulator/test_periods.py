"""Credits per monitoring period: VM0007 v1.8 Eq. 16-18 on cumulative NER, per-period rules."""

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats

from simulator.accounting.periods import (
    check_periods,
    compare_periods,
    parse_period,
    period_accounts,
    periods_from_years,
    vintages,
)
from simulator.accounting.standards import STANDARDS
from simulator.config.schema import Crediting

N = 200_000
#: Standard normal scores at evenly spaced probabilities: their 5th/95th percentiles are
#: +-1.6449 to 4 digits, so hand values hold to ~1e-4.
Z = stats.norm.ppf((np.arange(N) + 0.5) / N)
PERIODS = [(2026, 2027), (2028, 2030)]


def _two_periods():
    """Period 1: NER 1000 +- 200 z; period 2: exactly 1000. No leakage (gross = NER)."""
    ner = np.stack([1000.0 + 200.0 * Z, np.full(N, 1000.0)], axis=1)
    return ner, ner.copy()


def test_vm0007_eq16_to_18_over_two_periods():
    # Cumulative up to period 1: U = 1.6449 x 200 / 1000 = 32.9% -> Adjusted = 1000 x
    # (100 - 32.9 + 15)% = 821.0. Up to period 2: U = 329 / 2000 = 16.45% -> Adjusted =
    # 2000 x (100 - 16.45 + 15)% = 1971.0. Eq. 16: VCU_2 = 1971.0 - 821.0 - buffer.
    ner, gross = _two_periods()
    ds = period_accounts(ner, gross, PERIODS, STANDARDS["VM0007-1.8"], buffer_pct=20)
    u = ds.uncertainty_pct.values
    assert u[:2] == pytest.approx([32.897, 16.449], abs=0.01)
    adj = ds.adjusted_ner.values
    assert adj[0] == pytest.approx(821.03, abs=0.1)
    assert adj[1] == pytest.approx(1971.03 - 821.03, abs=0.1)
    assert ds.buffer.values[:2] == pytest.approx([200.0, 200.0], rel=1e-9)
    assert ds.credits.values[1] == pytest.approx(1150.0 - 200.0, abs=0.2)
    # The sum row is a sum, and the cumulative adjusted NER is its adjusted total.
    assert ds.credits.sel(period="sum") == pytest.approx(ds.credits.values[:2].sum())
    assert ds.adjusted_ner.sel(period="sum") == pytest.approx(1971.03, abs=0.1)
    assert np.isnan(ds.uncertainty_pct.sel(period="sum"))


def test_mr44_discounts_each_period_on_its_own():
    ner, gross = _two_periods()
    ds = period_accounts(ner, gross, PERIODS, STANDARDS["VCS-MR-4.4"], buffer_pct=20)
    f = ds.deduction_fraction.values
    assert f[0] == pytest.approx(0.329 / 1.6449 * 0.4307, abs=2e-4)
    assert f[1] == 0.0  # no uncertainty in period 2
    assert ds.adjusted_ner.values[1] == pytest.approx(1000.0)


def test_side_by_side_and_vintages():
    ner, gross = _two_periods()
    side = compare_periods(ner, gross, PERIODS, buffer_pct=15)
    assert set(side.standard.values) == set(STANDARDS)
    v = vintages(side.credits, PERIODS, yearly_ner={2026: 400.0, 2027: 600.0})
    assert list(v.vintage.values) == ["2026", "2027", "2028", "2029", "2030"]
    p1 = side.credits.sel(period="2026-2027")
    assert v.sel(vintage="2026").values == pytest.approx(0.4 * p1.values)
    total = side.credits.sel(period="sum").values
    assert v.sum("vintage").values == pytest.approx(total)


def test_periods_from_years():
    yearly = np.arange(10.0).reshape(2, 5)  # 2026..2030
    got = periods_from_years(yearly, 2026, PERIODS)
    assert got.tolist() == [[1.0, 9.0], [11.0, 24.0]]
    with pytest.raises(ValueError, match="outside the crediting years"):
        periods_from_years(yearly, 2026, [(2026, 2031)])


@pytest.mark.parametrize(
    ("periods", "match"),
    [
        ([(2026, 2027), (2027, 2030)], "overlap"),
        ([(2026, 2027), (2029, 2030)], "gap"),
        ([(2028, 2030), (2026, 2027)], "out of order"),
        ([], "no monitoring periods"),
    ],
)
def test_periods_are_distinct_without_gaps(periods, match):
    with pytest.raises(ValueError, match=match):
        check_periods(periods)


def test_parse_period():
    assert parse_period("2016") == (2016, 2016)
    assert parse_period("2016-2020") == (2016, 2020)
    for bad in ("16-20", "2020-2016", "2016/2020", ""):
        with pytest.raises(ValueError):
            parse_period(bad)


def test_crediting_periods_in_config():
    c = Crediting(start_year=2026, years=5, periods=["2026-2027", "2028-2030"])
    assert c.period_spans() == PERIODS
    with pytest.raises(ValidationError, match="leave a gap"):
        Crediting(start_year=2026, years=5, periods=["2026", "2028-2030"])
    with pytest.raises(ValidationError, match="outside the crediting years"):
        Crediting(start_year=2026, years=5, periods=["2026-2027", "2028-2031"])
