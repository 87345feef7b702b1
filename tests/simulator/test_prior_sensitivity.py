"""Credits under other priors for the data-free inputs (tables/prior_sensitivity.csv)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.accounting import account
from simulator.accounting.standards import STANDARDS
from simulator.analysis import prior_sensitivity as ps
from simulator.config import load_run
from simulator.engine.kernels import simulate
from tests.conftest import LOS_AMIGOS, make_inputs


@pytest.fixture(scope="module")
def spec():
    return load_run(LOS_AMIGOS).with_overrides(n_draws=6_000, seed=11)


@pytest.fixture(scope="module")
def rows(spec):
    return ps.prior_sensitivity(spec, make_inputs(np.random.default_rng(3), n_post=400))


def test_the_run_rows_are_the_runs_own_accounting(spec, rows):
    inputs = make_inputs(np.random.default_rng(3), n_post=400)
    cfg = spec.config
    total = account(
        simulate(inputs, 6_000, 11),
        STANDARDS[cfg.accounting.standard],
        cfg.accounting.buffer_pct,
        cfg.crediting.start_year,
    ).sel(period="total")
    run_rows = [r for r in rows if r["case"] == "run"]
    assert [r["parameter"] for r in run_rows] == [
        "effectiveness",
        "displacement",
        "post_conversion_tco2e_ha",
    ]
    for r in run_rows:
        assert r["credits"] == float(total["credits"])
        assert r["ner_ci_low"] == float(total["ner_ci_low"])
        assert r["credits_vs_run_pct"] == 0.0


def test_each_alternative_moves_the_credits_the_way_its_prior_does(rows):
    by_case = {(r["parameter"], r["case"]): r for r in rows}
    # a sceptical effectiveness (mean 0.3 where the inputs have 0.5-0.95) credits less
    assert by_case["effectiveness", "sceptical (mean 0.3)"]["credits_vs_run_pct"] < -30
    # more displacement, more leakage, fewer credits; less displacement, more
    assert (
        by_case["displacement", "mean 0.20"]["credits"] < by_case["displacement", "run"]["credits"]
    )
    assert (
        by_case["displacement", "mean 0.05"]["credits"] > by_case["displacement", "run"]["credits"]
    )
    # more carbon left after conversion, less emitted in either scenario, fewer credits
    post = {c: by_case["post_conversion_tco2e_ha", c]["credits"] for c in ("half", "run", "double")}
    assert post["half"] > post["run"] > post["double"]
    # importance weights of a different prior lose effective sample size, and only they
    ess = [
        r["weights_ess"] for r in rows if r["parameter"] == "displacement" and r["case"] != "run"
    ]
    n_leakage = 403  # make_inputs gives the leakage model 3 more draws than the others
    assert all(0 < e < n_leakage for e in ess)
    assert by_case["displacement", "run"]["weights_ess"] == pytest.approx(n_leakage)
    assert all(np.isnan(r["weights_ess"]) for r in rows if r["parameter"] != "displacement")


@pytest.mark.parametrize(("run_draws", "expected"), [(4_000, 4_000), (1_000_000, ps.MAX_DRAWS)])
def test_a_case_simulates_as_many_futures_as_the_run_up_to_the_maximum(run_draws, expected):
    cfg = load_run(LOS_AMIGOS).with_overrides(n_draws=run_draws).config
    assert ps.n_draws(cfg) == expected


def test_the_whole_period_of_the_totals_alone_is_the_whole_period_of_every_year():
    from simulator.engine.streaming import period_totals

    inputs = make_inputs(np.random.default_rng(8), n_post=300)
    sim = simulate(inputs, 20_000, 4)
    for standard in STANDARDS.values():
        full = account(sim, standard, 15.0, 2026).sel(period="total")
        alone = account(period_totals(sim), standard, 15.0, 2026).sel(period="total")
        for name in full.data_vars:
            a, b = full[name].values, alone[name].values
            assert np.array_equal(a, b, equal_nan=True), (standard.key, name)
