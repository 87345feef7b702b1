"""Forward-simulation kernel: agrees with the NumPy reference, deterministic, conserves mass."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine.kernels import KernelInputs, simulate, simulate_aligned
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
    """One posterior draw, no process noise: DESIGN §3.4's hazard equations in closed form."""
    area = np.array([1000.0, 3000.0])
    risk = np.array([0.5, 2.0 / 3.0 * 1.25])  # any positive weights: the kernel takes them as given
    hazard, e, lam, c_post = 0.01, 0.8, 0.1, 20.0
    carbon = np.array([[600.0, 300.0]])
    inputs = KernelInputs(
        carbon_density=carbon,
        log_rate_mean=np.full((1, 5), np.log(hazard)),
        rate_sigma=np.zeros(1),
        effectiveness=np.array([e]),
        post_carbon=np.array([c_post]),
        leakage_fraction=np.array([lam]),
        area=area,
        risk=risk,
    )
    sim = simulate(inputs, 3, seed=0)
    t = np.arange(1, 6)[:, None]
    r_b = 1 - np.exp(-hazard * risk)[None, :]  # cloglog: 1 - exp(-exp(eta + log w))
    r_p = 1 - np.exp(-hazard * risk * (1 - e))[None, :]  # the project scales the hazard
    lost_b = area * (1 - r_b) ** (t - 1) * r_b
    lost_p = area * (1 - r_p) ** (t - 1) * r_p  # on the project's own remaining forest
    dc = carbon[0] - c_post
    belt = carbon[0] @ area / area.sum() - c_post  # default belt: the project's forests
    for i in range(3):
        np.testing.assert_allclose(sim.baseline[i], lost_b @ dc, rtol=1e-13)
        np.testing.assert_allclose(sim.project[i], lost_p @ dc, rtol=1e-13)
        np.testing.assert_allclose(
            sim.leakage[i], lam * (lost_b - lost_p).sum(axis=1) * belt, rtol=1e-13
        )
        np.testing.assert_allclose(sim.baseline_loss_ha[i], lost_b.sum(axis=1), rtol=1e-13)


def test_leakage_uses_the_belt_carbon_when_given(kernel_inputs, rng):
    belt = rng.uniform(300, 500, kernel_inputs.leakage_fraction.size)
    a = simulate(kernel_inputs, 500, seed=4)
    b = simulate(KernelInputs(**{**kernel_inputs.__dict__, "belt_carbon": belt}), 500, seed=4)
    assert np.array_equal(a.baseline, b.baseline) and np.array_equal(a.project, b.project)
    m = b.picks[:, 2]
    k = b.picks[:, 4]  # post-conversion carbon
    dc_belt = belt[m] - kernel_inputs.post_carbon[k]
    displaced = b.leakage / (kernel_inputs.leakage_fraction[m] * dc_belt)[:, None]
    expected = b.baseline_loss_ha - _project_loss(b, kernel_inputs)
    np.testing.assert_allclose(displaced, expected, rtol=1e-9)


def _project_loss(sim, inputs):
    """Project-scenario hectares, recovered from the reference's per-stratum arithmetic."""
    ref = simulate_reference(inputs, sim.baseline.shape[0], sim.seed, sim.draw_start)
    assert np.allclose(ref.project, sim.project, rtol=1e-12)
    m, k = sim.picks[:, 2], sim.picks[:, 4]
    dc_belt = inputs.carbon_density[sim.picks[:, 0]] @ inputs.area / inputs.area.sum()
    dc_belt = dc_belt - inputs.post_carbon[k]
    return sim.baseline_loss_ha - ref.leakage / (inputs.leakage_fraction[m] * dc_belt)[:, None]


def test_ar1_noise_and_gap_years_match_the_reference(kernel_inputs, rng):
    n_d = kernel_inputs.log_rate_mean.shape[0]
    inputs = KernelInputs(
        **{
            **kernel_inputs.__dict__,
            "rate_phi": rng.uniform(-0.5, 0.9, n_d),
            "noise_last": rng.normal(0, 0.2, n_d),
            "gap_years": 5,
        }
    )
    fast = simulate(inputs, 3_000, seed=11, chunk_size=777)
    ref = simulate_reference(inputs, 3_000, seed=11)
    for f in FIELDS:
        np.testing.assert_allclose(getattr(fast, f), getattr(ref, f), rtol=1e-12, atol=0)
    assert np.array_equal(fast.picks, ref.picks)
    # the gap years change the crediting years' noise only through the AR(1) state
    no_gap = simulate(KernelInputs(**{**inputs.__dict__, "gap_years": 0}), 3_000, seed=11)
    assert not np.array_equal(no_gap.baseline, fast.baseline)


def test_ar1_noise_has_the_stated_stationary_law():
    """u_t = phi u_t-1 + sigma sqrt(1 - phi^2) z: marginal SD sigma, lag-1 correlation phi."""
    from simulator.engine.reference import log_hazard_paths

    phi, sigma, n = 0.6, 0.3, 200_000
    inputs = KernelInputs(
        carbon_density=np.ones((1, 1)),
        log_rate_mean=np.zeros((1, 4)),
        rate_sigma=np.array([sigma]),
        effectiveness=np.array([0.5]),
        post_carbon=np.zeros(1),
        leakage_fraction=np.zeros(1),
        area=np.ones(1),
        risk=np.ones(1),
        rate_phi=np.array([phi]),
        noise_last=np.array([0.0]),
        gap_years=30,  # long enough to forget the starting value
    )
    u = log_hazard_paths(inputs, 5, np.arange(n), np.zeros(n, dtype=np.int64))
    assert np.std(u[:, 0]) == pytest.approx(sigma, rel=0.01)
    assert np.corrcoef(u[:, 0], u[:, 1])[0, 1] == pytest.approx(phi, abs=0.01)
    assert np.corrcoef(u[:, 0], u[:, 2])[0, 1] == pytest.approx(phi**2, abs=0.01)


def test_any_log_hazard_and_negative_effectiveness_are_simulated(kernel_inputs):
    """Rates stay in [0, 1) whatever the rate model draws: no prior draw is refused."""
    n_d = kernel_inputs.log_rate_mean.shape[0]
    wild = KernelInputs(
        **{
            **kernel_inputs.__dict__,
            "log_rate_mean": np.linspace(-30, 3, n_d)[:, None]
            * np.ones((1, kernel_inputs.n_years)),
            "effectiveness": np.linspace(-2.0, 0.99, n_d),
        }
    )
    sim = simulate(wild, 2_000, seed=0)
    assert np.all(sim.baseline_loss_ha.sum(axis=1) <= wild.area.sum() * (1 + 1e-12))
    assert np.all(np.isfinite(sim.project)) and np.all(sim.project >= 0)
    e = wild.effectiveness[sim.picks[:, 3]]
    # a project with e < 0 loses more than its baseline
    worse = sim.project[e < 0].sum(axis=1) / sim.baseline[e < 0].sum(axis=1)
    assert np.all(worse >= 1 - 1e-12)
    # VMD0010 v1.2 §5.1.4.2: negative leakage is set to 0
    # (in the first year the project loses more than its baseline: nothing is displaced)
    assert np.all(sim.leakage[e < 0, 0] == 0.0) and np.all(sim.leakage >= 0)


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


def test_scenario_inputs_have_their_own_samples(kernel_inputs, rng):
    """Effectiveness and post-conversion carbon are picked independently, any sample size."""
    inputs = KernelInputs(
        **{
            **kernel_inputs.__dict__,
            "effectiveness": rng.uniform(0.3, 0.9, 5_000),
            "post_carbon": rng.uniform(5, 30, 777),
        }
    )
    fast = simulate(inputs, 4_000, seed=2, chunk_size=999)
    ref = simulate_reference(inputs, 4_000, seed=2)
    for f in FIELDS:
        np.testing.assert_allclose(getattr(fast, f), getattr(ref, f), rtol=1e-12)
    assert fast.picks[:, 3].max() > kernel_inputs.log_rate_mean.shape[0]
    assert inputs.n_posterior == (307, 300, 303, 5_000, 777)


def test_effectiveness_of_one_or_more_is_refused(kernel_inputs):
    with pytest.raises(ValueError, match="effectiveness"):
        KernelInputs(
            **{**kernel_inputs.__dict__, "effectiveness": np.ones_like(kernel_inputs.effectiveness)}
        )


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


def _aligned(inputs: KernelInputs, n: int, gen) -> KernelInputs:
    """The first n rows of every picked input, with AR(1) noise and gap years."""
    fields = {**inputs.__dict__}
    for name in ("carbon_density", "log_rate_mean", "effectiveness", "post_carbon"):
        fields[name] = fields[name][:n]
    fields["rate_sigma"] = fields["rate_sigma"][:n]
    fields["leakage_fraction"] = fields["leakage_fraction"][:n]
    fields["rate_phi"] = gen.uniform(-0.5, 0.9, n)
    fields["noise_last"] = gen.normal(0, 0.2, n)
    fields["gap_years"] = 3
    return KernelInputs(**fields)


def _row(inputs: KernelInputs, i: int) -> KernelInputs:
    picked = (
        "carbon_density",
        "log_rate_mean",
        "rate_sigma",
        "rate_phi",
        "noise_last",
        "effectiveness",
        "post_carbon",
        "leakage_fraction",
        "loss_target",
        "belt_carbon",
    )
    return KernelInputs(
        **{
            k: (v[i : i + 1] if k in picked and v is not None else v)
            for k, v in inputs.__dict__.items()
        }
    )


@pytest.mark.parametrize("allocated", [False, True])
def test_aligned_rows_are_the_one_row_simulations(kernel_inputs, rng, allocated):
    inputs = _aligned(kernel_inputs, 64, rng)
    if allocated:
        inputs = _allocated(inputs, rng)
    batch = simulate_aligned(inputs, seed=5)
    for i in (0, 1, 17, 63):
        one = simulate(_row(inputs, i), 1, seed=5, draw_start=i)
        for f in FIELDS:
            assert np.array_equal(getattr(batch, f)[i], getattr(one, f)[0]), (i, f)
    # rows are not picked at random: permuting the inputs permutes the futures' inputs,
    # and with no process noise (sigma = 0) it permutes the futures
    quiet = KernelInputs(**{**inputs.__dict__, "rate_sigma": np.zeros(64)})
    order = rng.permutation(64)
    permuted = _permute(quiet, order)
    assert np.array_equal(
        simulate_aligned(permuted).baseline, simulate_aligned(quiet).baseline[order]
    )


def _permute(inputs: KernelInputs, order: np.ndarray) -> KernelInputs:
    n = order.size
    return KernelInputs(
        **{
            k: (v[order] if isinstance(v, np.ndarray) and v.shape[:1] == (n,) else v)
            for k, v in inputs.__dict__.items()
        }
    )


def test_aligned_inputs_must_have_equal_rows(kernel_inputs):
    with pytest.raises(ValueError, match="same rows"):
        simulate_aligned(kernel_inputs)
