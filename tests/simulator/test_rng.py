"""Counter-based RNG: numba and NumPy agree, and the numbers look random."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from simulator import rng

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
