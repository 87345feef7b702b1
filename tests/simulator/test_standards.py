"""Uncertainty deduction and buffer rules, with worked examples from the methodology text."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.standards import STANDARDS, non_permanence_buffer, vcs_uncertainty_factor


@pytest.mark.parametrize(
    ("u", "factor"),
    [
        (0.10, 1.0),  # within the allowable 15%: no deduction
        (0.12, 1.0),  # DESIGN §3.5 example
        (0.15, 1.0),  # at the threshold
        (0.25, 0.90),  # VM0007 v1.8 §8.4-8.6: 100% - 25% + 15% = 90%
        (0.40, 0.75),
    ],
)
def test_vm0007_adjustment_worked_examples(u, factor):
    assert float(vcs_uncertainty_factor(u)) == pytest.approx(factor, abs=1e-12)


def test_vm0007_v18_uses_90_percent_confidence():
    std = STANDARDS["VM0007-1.8"]
    assert std.confidence == 0.90 and std.allowable == 0.15
    assert "8.4" in std.citation


@given(st.floats(0, 5), st.floats(0, 5))
def test_factor_never_increases_with_uncertainty(u1, u2):
    lo, hi = sorted((u1, u2))
    assert vcs_uncertainty_factor(hi) <= vcs_uncertainty_factor(lo) <= 1.0


@given(st.floats(0.15, 5))
def test_deduction_is_the_excess_over_allowable(u):
    assert float(1 - vcs_uncertainty_factor(u)) == pytest.approx(u - 0.15, abs=1e-12)


def test_negative_uncertainty_is_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        vcs_uncertainty_factor(-0.1)


def test_buffer_is_risk_share_of_positive_stock_change():
    assert non_permanence_buffer(1_000_000, 15) == pytest.approx(150_000)
    np.testing.assert_allclose(non_permanence_buffer([-5.0, 200.0], 10), [0.0, 20.0])
