"""VCS Methodology Requirements v4.4, the AFOLU Non-Permanence Risk Tool v4.2 and market leakage.

Worked values are those printed in the texts (see the functions' references).
"""

import numpy as np
import pytest
import simulator.standards as legacy
from pydantic import ValidationError

from simulator.accounting.standards import (
    STANDARDS,
    RiskAnalysisFailed,
    deduction,
    market_leakage_factor,
    nprt_risk_rating,
    vcs_mr44_discount_factor,
    vcs_mr44_significance,
)
from simulator.config.schema import STANDARD_KEYS, Accounting

MR44 = STANDARDS["VCS-MR-4.4"]


def test_mr44_worked_box():
    # §2.4 box: ER 100,000 tCO2e, SE 20,000, 90% half-width 32,898 -> U 32.9%
    # -> discount 32.9% / 1.6449 x 0.4307 = 8.6% -> 91,400 tCO2e.
    assert round(20_000 * 1.6449) == 32_898
    u = 32_898 / 100_000
    factor = float(vcs_mr44_discount_factor(u))
    assert round(factor, 3) == 0.086
    assert round(100_000 * (1 - round(factor, 3))) == 91_400
    assert 100_000 * (1 - factor) == pytest.approx(91_386, abs=1)  # unrounded factor


def test_mr44_through_deduction_on_draws(rng):
    # Normal draws with mean 100,000 and SD 20,000: the 90% half-width is 1.6449 x SD.
    ner = rng.normal(100_000.0, 20_000.0, 400_000)
    d = legacy.deduction(legacy.STANDARDS["VCS-MR-4.4"], ner)
    assert float(d.uncertainty) == pytest.approx(0.329, abs=0.003)
    assert float(d.fraction) == pytest.approx(0.086, abs=0.001)
    assert float(d.adjusted) == pytest.approx(91_400, rel=2e-3)


def test_mr44_not_eligible_above_100_percent(rng):
    assert float(vcs_mr44_discount_factor(1.0)) == pytest.approx(0.4307 / 1.6449)
    assert float(vcs_mr44_discount_factor(1.0001)) == 1.0
    ner = rng.normal(1000.0, 1000.0, 100_000)  # half-width ~164% of the mean
    d = deduction(MR44, ner)
    assert float(d.adjusted) == 0.0
    assert "not eligible" in vcs_mr44_significance(float(d.uncertainty))


def test_mr44_significance_statement():
    assert "significant" in vcs_mr44_significance(0.12)
    assert "within 10%" in vcs_mr44_significance(0.08)
    with pytest.raises(ValueError):
        vcs_mr44_significance(-0.1)


def test_mr44_key_is_configurable():
    assert "VCS-MR-4.4" in STANDARD_KEYS
    assert Accounting(standard="VCS-MR-4.4", buffer_pct=15).standard == "VCS-MR-4.4"


# ------------------------------------------------------------------ AFOLU NPRT v4.2


@pytest.mark.parametrize(
    ("scores", "rating"),
    [
        ((0, 0, 0), 12),  # §2.5.2: minimum 12 whatever Table 15 gives
        ((4, 4, 3.9), 12),  # 11.9 -> 12 (rounded up) -> minimum 12
        ((6, 4, 2.1), 13),  # 12.1 rounded up to 13, not 12
        ((10, 6, 2.0), 18),  # a whole sum is not rounded up further
        ((35, 20, 5), 60),  # every category at its threshold: 60 passes
    ],
)
def test_nprt_rating(scores, rating):
    assert nprt_risk_rating(*scores) == rating
    assert legacy.nprt_risk_rating(*scores) == rating


@pytest.mark.parametrize(
    ("scores", "what"),
    [
        ((35.5, 0, 0), "internal risk = 35.5 exceeds its threshold of 35"),
        ((0, 20.5, 0), "external risk = 20.5 exceeds its threshold of 20"),
        ((0, 0, 36), "natural risk = 36 exceeds its threshold of 35"),
        ((30, 20, 10.5), "overall risk rating 61 exceeds 60"),
    ],
)
def test_nprt_fails(scores, what):
    with pytest.raises(RiskAnalysisFailed, match=what):
        nprt_risk_rating(*scores)


def test_nprt_refuses_negative_scores():
    with pytest.raises(ValueError, match="at least 0"):
        nprt_risk_rating(-1, 5, 5)


def test_config_derives_or_checks_the_rating():
    a = Accounting(standard="VM0007-1.8", risk={"internal": 6, "external": 4, "natural": 2.1})
    assert a.buffer_pct == 13.0
    Accounting(
        standard="VM0007-1.8", buffer_pct=13, risk={"internal": 6, "external": 4, "natural": 2.1}
    )
    with pytest.raises(ValidationError, match="risk scores give a rating of 13"):
        Accounting(
            standard="VM0007-1.8",
            buffer_pct=15,
            risk={"internal": 6, "external": 4, "natural": 2.1},
        )
    with pytest.raises(ValidationError, match="from 12"):
        Accounting(standard="VM0007-1.8", buffer_pct=10)
    with pytest.raises(ValidationError, match="fails the non-permanence risk analysis"):
        Accounting(standard="VM0007-1.8", risk={"internal": 1, "external": 21, "natural": 1})
    with pytest.raises(ValidationError, match="give buffer_pct or the risk scores"):
        Accounting(standard="VM0007-1.8")


# ------------------------------------------------------------------ market leakage


def test_market_leakage_table3():
    got = [
        market_leakage_factor(k)
        for k in (
            "none",
            "shift-in-time",
            "permanent-higher-ratio",
            "permanent-similar-ratio",
            "permanent-lower-ratio",
            "out-of-country",
        )
    ]
    assert got == [0.0, 0.10, 0.20, 0.40, 0.70, 0.0]
    with pytest.raises(ValueError, match="Table 3"):
        market_leakage_factor("some")


def test_illustrative_rows_say_so():
    assert STANDARDS["ART-TREES-2.0"].illustrative
    assert STANDARDS["FCPF-CF"].illustrative
    assert not STANDARDS["VCS-MR-4.4"].illustrative
    assert np.isclose(STANDARDS["VCS-MR-4.4"].confidence, 0.90)
