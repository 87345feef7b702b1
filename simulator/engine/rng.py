"""Counter-based random numbers, usable from numba kernels and from NumPy.

Each random number is a pure function of ``(seed, draw, year, stratum, stream)``:
the counter is hashed with the SplitMix64 finaliser (Steele, Lea & Flood 2014,
"Fast splittable pseudorandom number generators", OOPSLA), so a draw's numbers
never depend on how draws are chunked, on the thread count or on the worker
that computes them, and any single draw can be re-simulated on its own.

The hash is split in two so that a kernel pays for ``(seed, draw)`` once per
draw: :func:`draw_key` mixes seed and draw (two finaliser rounds) and
:func:`keyed_hash` mixes in ``(year, stratum, stream)`` (one round).

Normals use the ziggurat method of Marsaglia & Tsang (2000, "The ziggurat method
for generating random variables", J. Stat. Softw. 5(8)) with 256 layers: one hash
gives the layer (8 bits), the sign (1 bit) and a 52-bit abscissa, and 98.8% of
normals need nothing more than a table look-up, a multiplication and a
comparison. The rare rejections draw further hashes from the same counter with an
``attempt`` number, so a normal stays a pure function of its counter. The tail
beyond ``r`` uses Marsaglia's (1964) exact method.

The scalar functions are ``numba.njit`` compiled and also callable from Python;
the ``*_array`` functions are the vectorised NumPy versions of the same
arithmetic (bit-identical integers and fast-path normals; a rejection path's
``log``/``exp`` may round differently between NumPy and LLVM in the last ulp).
"""

import numba
import numpy as np

__all__ = [
    "DESCRIPTION",
    "STREAM_POSTERIOR",
    "STREAM_RATE",
    "SLOT_BIOMASS",
    "SLOT_DEFORESTATION",
    "SLOT_LEAKAGE",
    "SLOT_EFFECTIVENESS",
    "SLOT_POST_CONVERSION",
    "MODEL_STREAMS",
    "ZIGGURAT_LAYERS",
    "draw_key",
    "keyed_hash",
    "counter_hash",
    "uniform",
    "normal",
    "normal_keyed",
    "index",
    "index_keyed",
    "counter_hash_array",
    "uniform_array",
    "normal_array",
    "index_array",
]

#: One-line description of the generator, for manifests and the appendix.
DESCRIPTION = (
    "SplitMix64 counter hash of (seed, draw, year, stratum, stream); "
    "ziggurat normals (Marsaglia & Tsang 2000, 256 layers)"
)

# Stream identifiers: one per kind of random number, so that adding a new use
# never shifts the numbers of an existing one.
STREAM_POSTERIOR = 1  # which posterior draw each model contributes (stratum = model id)
STREAM_RATE = 2  # process noise of the annual loss rate

# Which sample a posterior pick is for: the ``stratum`` slot of a STREAM_POSTERIOR counter
# (and, for the three models, the ``stream`` slot of the counter that seeds its sampler).
# The effectiveness and the post-conversion carbon have their own samples, picked
# independently of the rate model's draw (:mod:`simulator.engine.kernels`).
SLOT_BIOMASS = 0
SLOT_DEFORESTATION = 1
SLOT_LEAKAGE = 2
SLOT_EFFECTIVENESS = 3
SLOT_POST_CONVERSION = 4
#: The slots by name (the models' and the two scenario samples').
MODEL_STREAMS = {
    "biomass": SLOT_BIOMASS,
    "deforestation": SLOT_DEFORESTATION,
    "leakage": SLOT_LEAKAGE,
    "effectiveness": SLOT_EFFECTIVENESS,
    "post_conversion": SLOT_POST_CONVERSION,
}

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_NEG52 = 1.0 / 4503599627370496.0  # 2**-52
_TWO_NEG53 = 1.0 / 9007199254740992.0  # 2**-53
_MAX_ATTEMPTS = 1000  # rejection rounds before giving up (probability ~1e-1900)


# --------------------------------------------------------------------------- ziggurat tables

#: Layers of the ziggurat, and its constants for 256 layers (Marsaglia & Tsang 2000, §2):
#: ``r`` the base strip's right edge, ``v`` the area of every layer.
ZIGGURAT_LAYERS = 256
ZIGGURAT_R = 3.6541528853610088
ZIGGURAT_V = 4.92867323399e-3


def _ziggurat_tables(n: int = ZIGGURAT_LAYERS, r: float = ZIGGURAT_R, v: float = ZIGGURAT_V):
    """Layer edges ``x_0 > x_1 = r > ... > x_n = 0`` and the derived look-up tables.

    Layer ``i >= 1`` is the rectangle ``[0, x_i] x [f(x_i), f(x_{i+1})]`` with
    ``f(x) = exp(-x**2/2)``; layer 0 is ``[0, r] x [0, f(r)]`` plus the tail,
    given the virtual width ``x_0 = v / f(r)``. Every layer has area ``v``.

    Returns
    -------
    k : uint64 (n,)
        ``floor(x_{i+1} / x_i * 2**52)``: a 52-bit abscissa below it is inside
        the layer's fully accepted part.
    w : float64 (n,)
        ``x_i * 2**-52``: converts the 52-bit integer to the abscissa.
    f : float64 (n + 1,)
        ``f(x_i)``.
    """
    x = np.empty(n + 1)
    x[0] = v / np.exp(-0.5 * r * r)
    x[1] = r
    for i in range(1, n - 1):
        x[i + 1] = np.sqrt(-2.0 * np.log(np.exp(-0.5 * x[i] * x[i]) + v / x[i]))
    x[n] = 0.0
    k = np.array([int(x[i + 1] / x[i] * 2.0**52) for i in range(n)], dtype=np.uint64)
    return k, x[:n] * _TWO_NEG52, np.exp(-0.5 * x * x)


_ZIG_K, _ZIG_W, _ZIG_F = _ziggurat_tables()


# --------------------------------------------------------------------------- numba (scalar)


@numba.njit(cache=True, inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def draw_key(seed, draw):
    """Key of one draw: the first two hash rounds, shared by all of the draw's numbers."""
    return _mix(_mix(np.uint64(seed) + _GOLDEN) ^ (np.uint64(draw) + _GOLDEN))


@numba.njit(cache=True, inline="always")
def keyed_hash(key, year, stratum, stream, attempt=0):
    """Last hash round: mixes ``(attempt, year, stratum, stream)`` (16 bits each) into a key."""
    packed = (np.uint64(attempt) << np.uint64(48)) | (np.uint64(year) << np.uint64(32))
    packed = packed | (np.uint64(stratum) << np.uint64(16)) | np.uint64(stream)
    return _mix(key ^ (packed + _GOLDEN))


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
    return keyed_hash(draw_key(seed, draw), year, stratum, stream)


@numba.njit(cache=True, inline="always")
def _unit(h):
    """Uniform on the open interval (0, 1) from the top 53 bits of a hash."""
    return (np.float64(h >> np.uint64(11)) + 0.5) * _TWO_NEG53


@numba.njit(cache=True)
def uniform(seed, draw, year, stratum, stream):
    """Uniform on the open interval (0, 1) from the top 53 bits of the hash."""
    return _unit(counter_hash(seed, draw, year, stratum, stream))


@numba.njit(cache=True)
def normal_keyed(key, year, stratum, stream):
    """Standard normal (ziggurat) for a draw's key; see :func:`normal`."""
    for attempt in range(_MAX_ATTEMPTS):
        h = keyed_hash(key, year, stratum, stream, 3 * attempt)
        i = np.int64(h & np.uint64(0xFF))
        a = h >> np.uint64(12)  # 52-bit abscissa
        x = np.float64(a) * _ZIG_W[i]
        negative = (h >> np.uint64(8)) & np.uint64(1)
        if a < _ZIG_K[i]:
            return -x if negative else x
        u1 = _unit(keyed_hash(key, year, stratum, stream, 3 * attempt + 1))
        if i == 0:  # tail beyond r (Marsaglia 1964)
            u2 = _unit(keyed_hash(key, year, stratum, stream, 3 * attempt + 2))
            xt = -np.log(u1) / ZIGGURAT_R
            if -2.0 * np.log(u2) > xt * xt:
                return -(ZIGGURAT_R + xt) if negative else ZIGGURAT_R + xt
        elif _ZIG_F[i] + u1 * (_ZIG_F[i + 1] - _ZIG_F[i]) < np.exp(-0.5 * x * x):
            return -x if negative else x
    return np.nan


@numba.njit(cache=True)
def normal(seed, draw, year, stratum, stream):
    """Standard normal of the counter, by the ziggurat method.

    The first hash of the counter decides in 98.8% of cases; otherwise further
    hashes with attempt numbers 1, 2, ... (16 bits of the counter) are used.
    """
    return normal_keyed(draw_key(seed, draw), year, stratum, stream)


@numba.njit(cache=True, inline="always")
def index_keyed(key, year, stratum, stream, n):
    """Integer in ``0..n-1`` for a draw's key; see :func:`index`."""
    return np.int64((keyed_hash(key, year, stratum, stream) >> np.uint64(11)) % np.uint64(n))


@numba.njit(cache=True)
def index(seed, draw, year, stratum, stream, n):
    """Integer in ``0..n-1`` (modulo of the top 53 bits; bias below n / 2**53)."""
    return index_keyed(draw_key(seed, draw), year, stratum, stream, n)


# --------------------------------------------------------------------------- NumPy (vectorised)


def _mix_array(z: np.ndarray) -> np.ndarray:
    # Multiplication modulo 2**64 is the intended arithmetic; NumPy warns on
    # wrap-around only for 0-d inputs, so silence that case explicitly.
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _keyed_hash_array(key, year, stratum, stream, attempt=0) -> np.ndarray:
    u = [np.asarray(v, dtype=np.uint64) for v in (attempt, year, stratum, stream)]
    packed = (u[0] << np.uint64(48)) | (u[1] << np.uint64(32)) | (u[2] << np.uint64(16)) | u[3]
    with np.errstate(over="ignore"):
        return _mix_array(key ^ (packed + _GOLDEN))


def _draw_key_array(seed, draw) -> np.ndarray:
    seed, draw = (np.asarray(v, dtype=np.uint64) for v in (seed, draw))
    with np.errstate(over="ignore"):
        return _mix_array(_mix_array(seed + _GOLDEN) ^ (draw + _GOLDEN))


def counter_hash_array(seed, draw, year, stratum, stream) -> np.ndarray:
    """Vectorised :func:`counter_hash`; arguments broadcast against each other."""
    seed, draw, year, stratum, stream = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.uint64) for x in (seed, draw, year, stratum, stream))
    )
    return _keyed_hash_array(_draw_key_array(seed, draw), year, stratum, stream)


def _unit_array(h: np.ndarray) -> np.ndarray:
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * _TWO_NEG53


def uniform_array(seed, draw, year, stratum, stream) -> np.ndarray:
    """Vectorised :func:`uniform`."""
    return _unit_array(counter_hash_array(seed, draw, year, stratum, stream))


def normal_array(seed, draw, year, stratum, stream) -> np.ndarray:
    """Vectorised :func:`normal` (the same ziggurat, rejections retried by attempt)."""
    seed, draw, year, stratum, stream = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.uint64) for x in (seed, draw, year, stratum, stream))
    )
    key = _draw_key_array(seed, draw).ravel()
    year, stratum, stream = (v.ravel() for v in (year, stratum, stream))
    out = np.full(key.shape, np.nan)
    todo = np.arange(key.size)
    for attempt in range(_MAX_ATTEMPTS):
        if todo.size == 0:
            break
        ctr = (key[todo], year[todo], stratum[todo], stream[todo])
        h = _keyed_hash_array(*ctr, 3 * attempt)
        i = (h & np.uint64(0xFF)).astype(np.intp)
        a = h >> np.uint64(12)
        x = a.astype(np.float64) * _ZIG_W[i]
        x = np.where((h >> np.uint64(8)) & np.uint64(1), -x, x)
        accept = a < _ZIG_K[i]
        u1 = _unit_array(_keyed_hash_array(*ctr, 3 * attempt + 1))
        u2 = _unit_array(_keyed_hash_array(*ctr, 3 * attempt + 2))
        tail = ~accept & (i == 0)
        xt = -np.log(u1) / ZIGGURAT_R
        tail_ok = tail & (-2.0 * np.log(u2) > xt * xt)
        x = np.where(tail_ok, np.copysign(ZIGGURAT_R + xt, x), x)
        wedge = ~accept & (i > 0)
        i1 = np.minimum(i + 1, ZIGGURAT_LAYERS)
        wedge_ok = wedge & (_ZIG_F[i] + u1 * (_ZIG_F[i1] - _ZIG_F[i]) < np.exp(-0.5 * x * x))
        done = accept | tail_ok | wedge_ok
        out[todo[done]] = x[done]
        todo = todo[~done]
    return out.reshape(seed.shape) if seed.ndim else out[0]


def index_array(seed, draw, year, stratum, stream, n: int) -> np.ndarray:
    """Vectorised :func:`index`."""
    h = counter_hash_array(seed, draw, year, stratum, stream)
    return ((h >> np.uint64(11)) % np.uint64(n)).astype(np.int64)
