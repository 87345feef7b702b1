"""Counter-based RNG: numba and NumPy agree, and the numbers look random."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from simulator.engine import rng

counters = st.tuples(
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**16 - 1),
    st.integers(0, 2**16 - 1),
    st.integers(0, 2**15 - 1),
)


@given(counters)
def test_numba_and_numpy_hash_agree(key):
    assert int(rng.counter_hash(*key)) == int(rng.counter_hash_array(*key))
    u = rng.uniform(*key)
    assert 0.0 < u < 1.0
    assert u == float(rng.uniform_array(*key))
    assert rng.normal(*key) == pytest.approx(float(rng.normal_array(*key)), rel=1e-13, abs=1e-15)


def test_every_counter_field_changes_the_number():
    base = (11, 22, 3, 4, 5)
    h0 = int(rng.counter_hash(*base))
    for i in range(5):
        key = list(base)
        key[i] += 1
        assert int(rng.counter_hash(*key)) != h0


def test_uniforms_are_uniform_and_normals_normal():
    draws = np.arange(200_000, dtype=np.uint64)
    u = rng.uniform_array(7, draws, 0, 0, 3)
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    z = rng.normal_array(7, draws, 0, 0, 2)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # neighbouring draws and streams are uncorrelated
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.01
    z2 = rng.normal_array(7, draws, 0, 0, 3)
    assert abs(np.corrcoef(z, z2)[0, 1]) < 0.01


def test_index_is_uniform_over_range():
    idx = rng.index_array(3, np.arange(100_000, dtype=np.uint64), 0, 1, rng.STREAM_POSTERIOR, 7)
    assert idx.min() == 0 and idx.max() == 6
    counts = np.bincount(idx, minlength=7)
    assert stats.chisquare(counts).pvalue > 1e-3
    assert rng.index(3, 5, 0, 1, rng.STREAM_POSTERIOR, 7) == idx[5]


def test_ziggurat_layers_have_equal_area():
    """Marsaglia & Tsang (2000): every layer of the 256-layer ziggurat has area v."""
    k, w, f = rng._ziggurat_tables()
    x = w * 2.0**52
    areas = x[1:] * (f[2:] - f[1:-1])  # layers 1..255: x_i * (f(x_{i+1}) - f(x_i))
    np.testing.assert_allclose(areas, rng.ZIGGURAT_V, rtol=1e-9)
    base = rng.ZIGGURAT_R * f[1] + stats.norm.sf(rng.ZIGGURAT_R) * np.sqrt(2 * np.pi)
    assert base == pytest.approx(rng.ZIGGURAT_V, rel=1e-9)  # base strip plus tail
    assert np.all(k < 2**52) and f[-1] == 1.0


def test_ziggurat_tail_and_wedges_are_normal():
    """2 million normals: the tail beyond r (0.026% of draws) and the body follow N(0, 1)."""
    z = rng.normal_array(5, np.arange(2_000_000, dtype=np.uint64), 1, 0, rng.STREAM_RATE)
    tail = np.abs(z[np.abs(z) > rng.ZIGGURAT_R])
    expected = 2 * stats.norm.sf(rng.ZIGGURAT_R) * z.size
    assert abs(tail.size - expected) < 4 * np.sqrt(expected)
    # conditional on |z| > r, |z| - r has the truncated-normal law
    cdf = 1 - stats.norm.sf(tail) / stats.norm.sf(rng.ZIGGURAT_R)
    assert stats.kstest(cdf, "uniform").pvalue > 1e-3
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # the numba and NumPy versions make the same accept/reject decisions
    some = [0, 1, 2] + list(np.flatnonzero(np.abs(z) > rng.ZIGGURAT_R)[:20])
    for d in some:
        assert rng.normal(5, d, 1, 0, rng.STREAM_RATE) == pytest.approx(z[d], rel=1e-13)
