"""Streamed summaries: close to the exact ones within the stated bound, and bit-identical
however the draws are chunked, threaded or merged."""

import math
import random

import numba
import numpy as np
import pytest
from scipy import stats

from simulator.engine import streaming
from simulator.engine.kernels import SimulationResult, simulate
from simulator.engine.streaming import (
    BLOCK_SIZE,
    HISTOGRAMMED,
    QUANTITIES,
    Draws,
    checkpointed,
    chunk_plan,
    mc_relative_error,
    simulate_chunk,
    stream,
    summarise_draws,
)
from tests.conftest import make_inputs

PS = [0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975]


@pytest.fixture(scope="module")
def inputs():
    return make_inputs(np.random.default_rng(11), n_years=8)


@pytest.fixture(scope="module")
def exact_and_streamed(inputs):
    n = 3 * BLOCK_SIZE + 12_345  # a partial last block
    exact = summarise_draws(simulate(inputs, n, seed=9))
    return exact, stream(inputs, n, seed=9, chunk_size=2 * BLOCK_SIZE)


def _same(a, b):
    for q in QUANTITIES:
        assert np.array_equal(a[q].mean, b[q].mean), q
        assert np.array_equal(a[q].sd, b[q].sd), q
    for q in HISTOGRAMMED:
        assert np.array_equal(a[q].quantile(PS), b[q].quantile(PS)), q


def test_streamed_quantiles_are_within_one_bin_of_numpy(exact_and_streamed):
    exact, streamed = exact_and_streamed
    for q in HISTOGRAMMED:
        error = np.abs(streamed[q].quantile(PS) - exact[q].quantile(PS))
        bound = streamed[q].quantile_error_bound
        assert np.all(error <= bound), q
        # the stated bound itself is far below the 0.1%-of-the-mean requirement
        assert np.all(bound / np.abs(exact[q].mean) < 1e-3), q


def test_streamed_moments_are_the_exact_ones(exact_and_streamed):
    exact, streamed = exact_and_streamed
    for q in QUANTITIES:
        draws = exact[q].draws
        fsum_mean = np.array([math.fsum(draws[:, p]) / len(draws) for p in range(draws.shape[1])])
        np.testing.assert_allclose(streamed[q].mean, fsum_mean, rtol=1e-13)
        np.testing.assert_allclose(streamed[q].sd, draws.std(axis=0, ddof=1), rtol=1e-10)
        assert np.array_equal(streamed[q].min, draws.min(axis=0))
        assert np.array_equal(streamed[q].max, draws.max(axis=0))
    counts = streamed["ner"].counts
    assert np.all(counts.sum(axis=1) == streamed.n_draws)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("chunk", [1, BLOCK_SIZE, 10**7])
def test_bit_identical_for_any_threads_and_chunks(inputs, exact_and_streamed, threads, chunk):
    _, expected = exact_and_streamed
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        got = stream(inputs, expected.n_draws, seed=9, chunk_size=chunk)
    finally:
        numba.set_num_threads(before)
    _same(got, expected)


def test_bit_identical_whatever_order_chunks_finish(inputs, exact_and_streamed):
    _, expected = exact_and_streamed

    def shuffled(inputs, seed, plan, grid):
        order = list(plan)
        random.Random(3).shuffle(order)
        for start, n in order:
            yield start, simulate_chunk(inputs, seed, start, n, grid)

    got = stream(inputs, expected.n_draws, seed=9, chunk_size=1, runner=shuffled)
    _same(got, expected)
    for key in ("n", "mean", "ci_low", "ci_high"):  # the same first and last snapshots
        assert got.convergence[key][[0, -1]].tolist() == expected.convergence[key][[0, -1]].tolist()


def test_a_missing_chunk_is_an_error(inputs):
    def lossy(inputs, seed, plan, grid):
        for start, n in plan[1:]:
            yield start, simulate_chunk(inputs, seed, start, n, grid)

    with pytest.raises(streaming.SimulationError, match="missing"):
        stream(inputs, 3 * BLOCK_SIZE, seed=1, chunk_size=1, runner=lossy)


def test_quantiles_beyond_the_pilot_range_trigger_an_exact_range(monkeypatch, inputs):
    """Draws after the first block are far larger than the pilot's: a second pass bins them."""

    def fill(out, start):
        d = np.arange(start, start + out.baseline.shape[0], dtype=float)[:, None]
        value = np.where(d < BLOCK_SIZE, d / BLOCK_SIZE, 1e6 + d)  # the pilot sees only [0, 1)
        for a in (out.baseline, out.baseline_loss_ha):
            a[:] = value
        out.project[:] = 0.0
        out.leakage[:] = 0.0
        if out.picks is not None:
            out.picks[:] = 0  # every future from posterior draw 0

    def fake_simulate(inputs, n, seed, chunk_size=0, draw_start=0):
        out = SimulationResult(*(np.empty((n, inputs.n_years)) for _ in range(4)), seed, draw_start)
        fill(out, draw_start)
        return out

    monkeypatch.setattr(streaming, "simulate", fake_simulate)
    monkeypatch.setattr(
        streaming, "simulate_into", lambda inputs, seed, start, out: fill(out, start)
    )
    n = 4 * BLOCK_SIZE
    got = stream(inputs, n, seed=0, chunk_size=BLOCK_SIZE)
    exact = Draws(fake_simulate(inputs, n, 0).baseline)
    error = np.abs(got["ner"].quantile(PS)[:, 0] - exact.quantile(PS)[:, 0])
    assert np.all(error <= got["ner"].quantile_error_bound[0])


def test_quantile_mcse_matches_the_spread_over_seeds(inputs):
    """The futures' MC error of the 5% quantile agrees with its SD over 40 seeds.

    The posterior sample is the same in every run here, so only the futures vary
    (``tests/simulator/test_mc_error.py`` redraws the posterior sample too).
    """
    n = 2 * BLOCK_SIZE
    runs = [stream(inputs, n, seed=s) for s in range(40)]
    q05 = np.array([r["ner"].quantile(0.05)[-1] for r in runs])
    predicted = np.mean([r["ner"].futures_mcse(0.05)[-1] for r in runs])
    ratio = q05.std(ddof=1) / predicted
    # the SD of 40 normal values has a relative SE of 1/sqrt(78): 0.11
    assert 0.7 < ratio < 1.3
    means = np.array([r["ner"].mean[-1] for r in runs])
    assert 0.7 < means.std(ddof=1) / np.mean([r["ner"].mean_mcse[-1] for r in runs]) < 1.3


def test_quantile_mcse_of_a_normal_sample():
    x = np.random.default_rng(2).normal(1000.0, 100.0, size=(400_000, 1))
    z = stats.norm.ppf(0.05)
    expected = np.sqrt(0.05 * 0.95 / len(x)) / (stats.norm.pdf(z) / 100.0)
    assert Draws(x).quantile_mcse(0.05)[0] == pytest.approx(expected, rel=0.05)


def test_mc_tolerance_doubles_until_met_and_equals_a_fixed_run(inputs):
    got = stream(inputs, 1000, seed=4, chunk_size=BLOCK_SIZE, mc_tolerance=2e-3)
    assert got.n_draws % BLOCK_SIZE == 0
    assert math.log2(got.n_draws // BLOCK_SIZE) == int(math.log2(got.n_draws // BLOCK_SIZE))
    # the doubling reads the futures' part (more futures cannot shrink the posterior's)
    assert np.all(mc_relative_error(got["ner"], "futures") <= 2e-3)
    if got.n_draws > BLOCK_SIZE:  # the previous doubling did not meet it
        half = stream(inputs, got.n_draws // 2, seed=4)
        assert np.any(mc_relative_error(half["ner"], "futures") > 2e-3)
    _same(got, stream(inputs, got.n_draws, seed=4, chunk_size=3 * BLOCK_SIZE))


def test_mc_tolerance_stops_at_max_draws(inputs):
    got = stream(inputs, 1000, seed=4, mc_tolerance=1e-9, max_draws=2 * BLOCK_SIZE)
    assert got.n_draws == 2 * BLOCK_SIZE


def test_an_interrupted_stream_resumes_from_its_checkpoints(inputs, exact_and_streamed, tmp_path):
    _, expected = exact_and_streamed
    computed = []

    def counting(inputs, seed, plan, grid):
        for start, n in plan:
            computed.append(start)
            yield start, simulate_chunk(inputs, seed, start, n, grid)

    def interrupted(inputs, seed, plan, grid):
        for i, item in enumerate(counting(inputs, seed, plan, grid)):
            if i == 1:
                raise KeyboardInterrupt
            yield item

    n = expected.n_draws
    with pytest.raises(KeyboardInterrupt):
        stream(inputs, n, seed=9, chunk_size=1, runner=checkpointed(interrupted, tmp_path))
    saved = list(tmp_path.rglob("*.npz"))
    assert len(saved) == 1 and not list(tmp_path.rglob("*.tmp.npz"))
    computed.clear()
    got = stream(inputs, n, seed=9, chunk_size=1, runner=checkpointed(counting, tmp_path))
    _same(got, expected)
    assert len(computed) == len(chunk_plan(n - BLOCK_SIZE, 1)) - 1  # the saved chunk is reused
    # another seed is another computation: nothing is reused
    computed.clear()
    stream(inputs, n, seed=10, chunk_size=1, runner=checkpointed(counting, tmp_path))
    assert len(computed) == len(chunk_plan(n - BLOCK_SIZE, 1))
