"""Counter-based random numbers, usable from numba kernels and from NumPy.

Each random number is a pure function of ``(seed, draw, year, stratum, stream)``:
a key is hashed with the SplitMix64 finaliser (Steele, Lea & Flood 2014,
"Fast splittable pseudorandom number generators", OOPSLA), so a draw's numbers
never depend on how draws are chunked, on the thread count or on the worker
that computes them, and any single draw can be re-simulated on its own.

Normals use the Box-Muller transform of two independent uniforms. The scalar
functions are ``numba.njit`` compiled and also callable from Python; the
``*_array`` functions are the vectorised NumPy versions of the same arithmetic
(bit-identical integers; floats equal to the last few ulp, as NumPy's and
LLVM's ``log``/``cos`` may round differently).
"""

import numba
import numpy as np

__all__ = [
    "DESCRIPTION",
    "STREAM_POSTERIOR",
    "STREAM_RATE",
    "counter_hash",
    "uniform",
    "normal",
    "index",
    "counter_hash_array",
    "uniform_array",
    "normal_array",
    "index_array",
]

#: One-line description of the generator, for manifests and the appendix.
DESCRIPTION = "SplitMix64 counter hash of (seed, draw, year, stratum, stream); Box-Muller normals"

# Stream identifiers: one per kind of random number, so that adding a new use
# never shifts the numbers of an existing one.
STREAM_POSTERIOR = 1  # which posterior draw each model contributes (stratum = model id)
STREAM_RATE = 2  # process noise of the annual loss rate
# Box-Muller consumes two uniforms: sub-streams 2k and 2k+1 of the key.

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_NEG53 = 1.0 / 9007199254740992.0  # 2**-53
_TWO_PI = 6.283185307179586


@numba.njit(cache=True, inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True)
def counter_hash(seed, draw, year, stratum, stream):
    """64-bit hash of the counter ``(seed, draw, year, stratum, stream)``.

    Parameters
    ----------
    seed, draw : int
        Non-negative integers below 2**63.
    year, stratum, stream : int
        Non-negative integers below 2**16 (year is the index 0..T-1, not the calendar year).

    Returns
    -------
    numpy.uint64
    """
    h = _mix(np.uint64(seed) + _GOLDEN)
    h = _mix(h ^ (np.uint64(draw) + _GOLDEN))
    packed = (np.uint64(year) << np.uint64(32)) | (np.uint64(stratum) << np.uint64(16))
    packed = packed | np.uint64(stream)
    return _mix(h ^ (packed + _GOLDEN))


@numba.njit(cache=True)
def uniform(seed, draw, year, stratum, stream):
    """Uniform on the open interval (0, 1) from the top 53 bits of the hash."""
    h = counter_hash(seed, draw, year, stratum, stream)
    return (np.float64(h >> np.uint64(11)) + 0.5) * _TWO_NEG53


@numba.njit(cache=True)
def normal(seed, draw, year, stratum, stream):
    """Standard normal by Box-Muller from sub-streams ``2*stream`` and ``2*stream + 1``."""
    u1 = uniform(seed, draw, year, stratum, 2 * stream)
    u2 = uniform(seed, draw, year, stratum, 2 * stream + 1)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(_TWO_PI * u2)


@numba.njit(cache=True)
def index(seed, draw, year, stratum, stream, n):
    """Integer in ``0..n-1`` (modulo of the top 53 bits; bias below n / 2**53)."""
    h = counter_hash(seed, draw, year, stratum, stream)
    return np.int64((h >> np.uint64(11)) % np.uint64(n))


def _mix_array(z: np.ndarray) -> np.ndarray:
    # Multiplication modulo 2**64 is the intended arithmetic; NumPy warns on
    # wrap-around only for 0-d inputs, so silence that case explicitly.
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def counter_hash_array(seed, draw, year, stratum, stream) -> np.ndarray:
    """Vectorised :func:`counter_hash`; arguments broadcast against each other."""
    arrays = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.uint64) for x in (seed, draw, year, stratum, stream))
    )
    seed_, draw_, year_, stratum_, stream_ = arrays
    with np.errstate(over="ignore"):
        h = _mix_array(seed_ + _GOLDEN)
        h = _mix_array(h ^ (draw_ + _GOLDEN))
        packed = (year_ << np.uint64(32)) | (stratum_ << np.uint64(16)) | stream_
        return _mix_array(h ^ (packed + _GOLDEN))


def uniform_array(seed, draw, year, stratum, stream) -> np.ndarray:
    """Vectorised :func:`uniform`."""
    h = counter_hash_array(seed, draw, year, stratum, stream)
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * _TWO_NEG53


def normal_array(seed, draw, year, stratum, stream) -> np.ndarray:
    """Vectorised :func:`normal`."""
    stream = np.asarray(stream, dtype=np.uint64)
    u1 = uniform_array(seed, draw, year, stratum, np.uint64(2) * stream)
    u2 = uniform_array(seed, draw, year, stratum, np.uint64(2) * stream + np.uint64(1))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(_TWO_PI * u2)


def index_array(seed, draw, year, stratum, stream, n: int) -> np.ndarray:
    """Vectorised :func:`index`."""
    h = counter_hash_array(seed, draw, year, stratum, stream)
    return ((h >> np.uint64(11)) % np.uint64(n)).astype(np.int64)
