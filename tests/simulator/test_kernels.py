"""Forward-simulation kernel: agrees with the NumPy reference, deterministic, conserves mass."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine.kernels import KernelInputs, simulate
from simulator.engine.reference import simulate_reference
from simulator.errors import SimulationError
from tests.conftest import make_inputs

FIELDS = ("baseline", "project", "leakage", "baseline_loss_ha")


def test_kernel_matches_numpy_reference(kernel_inputs):
    fast = simulate(kernel_inputs, 5_000, seed=42, chunk_size=1_234)
    ref = simulate_reference(kernel_inputs, 5_000, seed=42)
    for f in FIELDS:
        np.testing.assert_allclose(getattr(fast, f), getattr(ref, f), rtol=1e-12, atol=0)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("chunk", [1, 97, 10_000])
def test_bit_identical_for_any_threads_and_chunks(kernel_inputs, threads, chunk):
    expected = simulate(kernel_inputs, 3_000, seed=7, chunk_size=3_000)
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        got = simulate(kernel_inputs, 3_000, seed=7, chunk_size=chunk)
    finally:
        numba.set_num_threads(before)
    for f in FIELDS:
        assert np.array_equal(getattr(got, f), getattr(expected, f))


def test_any_draw_can_be_resimulated_alone(kernel_inputs):
    full = simulate(kernel_inputs, 1_000, seed=3)
    part = simulate(kernel_inputs, 10, seed=3, draw_start=500)
    assert np.array_equal(part.baseline, full.baseline[500:510])
    assert np.array_equal(part.leakage, full.leakage[500:510])


def test_seed_changes_results(kernel_inputs):
    a = simulate(kernel_inputs, 100, seed=1)
    b = simulate(kernel_inputs, 100, seed=2)
    assert not np.array_equal(a.baseline, b.baseline)


def test_known_answer_without_noise():
    """One posterior draw, no process noise: the geometric decay of DESIGN §3.4 in closed form."""
    area = np.array([1000.0, 3000.0])
    risk = np.array([0.5, 2.0 / 3.0 * 1.25])  # any positive weights: the kernel takes them as given
    rate, e, lam, c_post = 0.01, 0.8, 0.1, 20.0
    carbon = np.array([[600.0, 300.0]])
    inputs = KernelInputs(
        carbon_density=carbon,
        log_rate_mean=np.full((1, 5), np.log(rate)),
        rate_sigma=np.zeros(1),
        effectiveness=np.array([e]),
        post_carbon=np.array([c_post]),
        leakage_fraction=np.array([lam]),
        area=area,
        risk=risk,
    )
    sim = simulate(inputs, 3, seed=0)
    t = np.arange(1, 6)
    lost = area[None, :] * (1 - rate * risk[None, :]) ** (t[:, None] - 1) * rate * risk[None, :]
    eb = lost @ (carbon[0] - c_post)
    for i in range(3):
        np.testing.assert_allclose(sim.baseline[i], eb, rtol=1e-13)
        np.testing.assert_allclose(sim.project[i], eb * (1 - e), rtol=1e-13)
        np.testing.assert_allclose(sim.leakage[i], lam * e * eb, rtol=1e-13)
        np.testing.assert_allclose(sim.baseline_loss_ha[i], lost.sum(axis=1), rtol=1e-13)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), n_strata=st.integers(1, 5), n_years=st.integers(1, 30))
def test_mass_balance(seed, n_strata, n_years):
    inputs = make_inputs(np.random.default_rng(seed % 2**32), 20, n_years, n_strata)
    sim = simulate(inputs, 50, seed=seed)
    # forest lost over the period never exceeds the forest there was
    assert np.all(sim.baseline_loss_ha.sum(axis=1) < inputs.area.sum())
    assert np.all(sim.baseline_loss_ha > 0)
    # project emissions are the unprevented part; leakage a fraction of the reduction
    assert np.all(sim.project <= sim.baseline)
    assert np.all((sim.leakage >= 0) & (sim.leakage <= sim.baseline - sim.project + 1e-9))


def test_rate_of_100_percent_is_an_error(kernel_inputs):
    bad = KernelInputs(
        **{**kernel_inputs.__dict__, "log_rate_mean": np.zeros_like(kernel_inputs.log_rate_mean)}
    )
    with pytest.raises(SimulationError, match="loss rate >= 100%"):
        simulate(bad, 100, seed=0)


def test_inputs_are_validated(kernel_inputs):
    with pytest.raises(ValueError, match="rate_sigma"):
        KernelInputs(**{**kernel_inputs.__dict__, "rate_sigma": np.ones(3)})
    with pytest.raises(ValueError, match="non-finite"):
        KernelInputs(**{**kernel_inputs.__dict__, "area": np.array([1.0, np.nan, 1.0, 1.0])})


def _allocated(inputs: KernelInputs, gen) -> KernelInputs:
    target = gen.uniform(50.0, 400.0, inputs.log_rate_mean.shape[0])[:, None]
    return KernelInputs(
        **{**inputs.__dict__, "loss_target": np.repeat(target, inputs.n_years, axis=1)}
    )


def test_allocated_baseline_loses_exactly_the_allocated_area(kernel_inputs, rng):
    inputs = _allocated(kernel_inputs, rng)
    sim = simulate(inputs, 2_000, seed=9, chunk_size=333)
    from simulator.engine import rng as counter

    k = counter.index_array(
        9,
        np.arange(2_000, dtype=np.uint64),
        0,
        1,
        counter.STREAM_POSTERIOR,
        inputs.loss_target.shape[0],
    )
    np.testing.assert_allclose(sim.baseline_loss_ha, inputs.loss_target[k], rtol=1e-12)
    ref = simulate_reference(inputs, 2_000, seed=9)
    for f in FIELDS:
        np.testing.assert_allclose(getattr(sim, f), getattr(ref, f), rtol=1e-12)
    # the riskier strata lose more of their forest
    assert np.all(sim.project <= sim.baseline)


def test_allocated_loss_larger_than_the_forest_is_an_error(kernel_inputs):
    big = np.full_like(kernel_inputs.log_rate_mean, 10 * kernel_inputs.area.sum())
    with pytest.raises(SimulationError):
        simulate(KernelInputs(**{**kernel_inputs.__dict__, "loss_target": big}), 10, seed=0)
    with pytest.raises(ValueError, match="loss_target"):
        KernelInputs(**{**kernel_inputs.__dict__, "loss_target": -big})
