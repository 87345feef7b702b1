"""The run's gates: Monte Carlo error of the CI bounds and sampler diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from models.sampling import Diagnostics
from simulator.accounting import interval_summary
from simulator.config import Sampler
from simulator.errors import ConvergenceError
from simulator.orchestration.gates import (
    OVERRIDE_FLAG,
    OVERRIDE_KEY,
    MonteCarloGate,
    check_monte_carlo,
    check_sampler,
    monte_carlo_gate,
    override_source,
    required_draws,
)


def test_required_draws_follows_the_inverse_square_root_law():
    # 0.125% at 100,000 draws -> 0.1% needs 100,000 x 1.25^2 = 156,250 draws
    assert required_draws(100_000, 0.00125, 0.001, margin=1.0) == 160_000
    assert required_draws(100_000, 0.00125, 0.001) == 190_000  # x 1.2 margin, 187,500 up
    assert required_draws(20_000, 0.0005, 0.001) == 20_000  # already below the limit


def test_required_draws_meets_the_limit_on_a_known_distribution(rng):
    """Batch-means MCSE of a 90% bound shrinks as 1/sqrt(N): the suggested N passes."""
    n = 20_000
    x = rng.normal(1000.0, 300.0, n)
    s = interval_summary(x, 0.90)
    rel = max(s["ci_low_mcse"], s["ci_high_mcse"]) / s["mean"]
    assert rel > 0.001  # fails at this N
    big = required_draws(n, rel, 0.001, margin=2.0)  # a margin wide enough for the SE's noise
    s2 = interval_summary(rng.normal(1000.0, 300.0, big), 0.90)
    assert max(s2["ci_low_mcse"], s2["ci_high_mcse"]) / s2["mean"] < 0.001


def _summary(mean, low_mcse, high_mcse, n=100_000, parts=None):
    data = {
        "ner_mean": ("period", [mean / 10, mean]),
        "ner_ci_low_mcse": ("period", [0.0, low_mcse]),
        "ner_ci_high_mcse": ("period", [0.0, high_mcse]),
    }
    for name, value in (parts or {}).items():
        data[f"ner_ci_{name}"] = ("period", [np.nan, value])
    return xr.Dataset(data, coords={"period": ["2026", "total"]}, attrs={"n_draws": n})


def test_monte_carlo_gate_is_strictly_below_half_a_percent():
    assert monte_carlo_gate(_summary(1_000_000, 2_500, 4_999)).passed
    gate = monte_carlo_gate(_summary(1_000_000, 2_500, 5_000))
    assert not gate.passed and gate.relative == pytest.approx(0.005)
    assert gate.relative_low == pytest.approx(0.0025)


def test_failing_monte_carlo_gate_says_how_many_draws():
    gate = monte_carlo_gate(_summary(1_804_036, 11_275, 9_500))  # 0.625% of the mean
    with pytest.raises(ConvergenceError) as info:
        check_monte_carlo(gate, None)
    msg = str(info.value)
    assert "0.625% of the mean with 100,000 futures" in msg
    assert "raise [simulation].n_draws (or --draws) to at least ~190,000" in msg
    assert OVERRIDE_FLAG in msg and "\n" not in msg
    check_monte_carlo(gate, OVERRIDE_FLAG)  # overridden: no error


def _parts(futures, posterior):
    return {
        "low_mcse_futures": futures,
        "high_mcse_futures": futures,
        "low_mcse_posterior": posterior,
        "high_mcse_posterior": posterior,
    }


def test_posterior_sample_error_names_the_sampler_draws():
    """More futures cannot remove the posterior-sample error: the advice says so."""
    mean, fut, post = 1_000_000, 1_000, 6_000  # 0.1% futures, 0.6% posterior
    total = float(np.hypot(fut, post))
    gate = monte_carlo_gate(_summary(mean, total, total, parts=_parts(fut, post)), 2_000)
    assert gate.relative_posterior == pytest.approx(0.006)
    assert gate.required_draws is None  # futures already within their half of the budget
    # posterior part to 0.5%/sqrt(2): 2,000 x (0.6 / 0.3536)^2 x 1.2 = 6,912 -> 7,000
    assert gate.required_posterior_draws == 7_000
    with pytest.raises(ConvergenceError) as info:
        check_monte_carlo(gate, None)
    msg = str(info.value)
    assert "futures 0.100%, posterior sample 0.600%" in msg
    assert "raise [sampler].draws (now 2,000) to at least ~7,000" in msg
    assert "[simulation].n_draws" not in msg


def test_futures_error_names_the_futures():
    mean, fut, post = 1_000_000, 6_000, 1_000
    total = float(np.hypot(fut, post))
    gate = monte_carlo_gate(_summary(mean, total, total, parts=_parts(fut, post)), 2_000)
    with pytest.raises(ConvergenceError) as info:
        check_monte_carlo(gate, None)
    msg = str(info.value)
    assert "[simulation].n_draws" in msg and "[sampler].draws" not in msg


def test_non_positive_mean_fails_without_a_draw_count():
    gate = MonteCarloGate(n_draws=1000, mean=-5.0, mcse_low=1.0, mcse_high=1.0)
    assert not gate.passed and gate.required_draws is None
    with pytest.raises(ConvergenceError, match="not positive"):
        check_monte_carlo(gate, None)


def _diag(**kw):
    base = dict(
        model="deforestation",
        max_r_hat=1.001,
        min_ess_bulk=900.0,
        min_ess_tail=900.0,
        divergences=0,
        n_samples=4000,
    )
    return Diagnostics(**(base | kw))


def test_tail_ess_alone_fails_the_sampler_gate_and_suggests_draws():
    settings = Sampler(draws=1000)
    with pytest.raises(ConvergenceError) as info:
        check_sampler([_diag(min_ess_tail=200.0)], settings, None)
    msg = str(info.value)
    assert "deforestation: tail ESS 200 < 400" in msg
    # ESS grows with draws: 1,000 x 400 / 200 x 1.2 = 2,400
    assert "raise [sampler].draws (now 1,000) to at least ~2,400" in msg
    assert OVERRIDE_FLAG in msg and OVERRIDE_KEY in msg


def test_divergences_and_rhat_get_their_own_advice():
    with pytest.raises(ConvergenceError) as info:
        check_sampler([_diag(divergences=3, max_r_hat=1.05)], Sampler(), None)
    msg = str(info.value)
    assert "3 divergent transitions" in msg and "target_accept (now 0.9)" in msg
    assert "R-hat 1.050 > 1.01" in msg and "longer chains" in msg


def test_sampler_gate_passes_or_is_overridden():
    check_sampler([_diag()], Sampler(), None)
    check_sampler([_diag(min_ess_bulk=10.0)], Sampler(), OVERRIDE_KEY)


def test_override_source_names_who_overrode():
    assert override_source(False, Sampler()) is None
    assert override_source(True, Sampler()) == OVERRIDE_FLAG
    assert override_source(False, Sampler(allow_failed_diagnostics=True)) == OVERRIDE_KEY
    assert override_source(True, Sampler(allow_failed_diagnostics=True)) == OVERRIDE_FLAG


def test_relative_mcse_of_a_bound_is_finite_for_positive_means():
    gate = MonteCarloGate(n_draws=10, mean=np.float64(2.0), mcse_low=0.001, mcse_high=0.0)
    assert gate.as_dict()["relative_low"] == pytest.approx(0.0005)
