"""Whole-chain coverage: total-NER intervals cover the realised true NER at their levels.

Projects are drawn from the models' priors, observed through the models'
likelihoods, fitted, forward-simulated and accounted (``benchmarks.calibration``).
A correct chain covers the true total NER of one future of the true project in
90% (VM0007 v1.8) and 95% (v1.6) of replications; each count must lie in its 99%
binomial acceptance region. Projects whose true or posterior loss rate reaches 100%
are refused by the kernel, as a run would be, and replaced by further replications.
"""

import pytest

from benchmarks import calibration as cal

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("level", sorted(cal.LEVELS))
def test_total_ner_interval_covers_at_its_level(calibration_study, level):
    row = next(r for r in cal.coverage_table(calibration_study) if r["level"] == level)
    assert row["n"] >= cal.TEST_REPLICATIONS
    assert row["passed"], row
