"""Summaries of the simulated draws, exact or streamed in memory independent of N.

Accounting needs, per crediting year and for the period total, the mean, SD and
a few quantiles of each simulated quantity (:data:`QUANTITIES`). Two
representations give them through one interface, :class:`Distribution`:

* :class:`Draws` holds the draws themselves (tests, small runs, sensitivity);
  its quantiles are NumPy's (``method="linear"``).
* :class:`StreamedDistribution` comes from :func:`stream`, which simulates the
  draws chunk by chunk and keeps only mergeable statistics (:class:`ChunkStats`):
  exact sums, extremes and a histogram of :data:`N_BINS` bins per period. Memory
  is independent of the number of draws.

Streamed statistics are bit-identical for any chunk size, thread count, worker or
order of merging: sums are accumulated **exactly** (each block's float sum is
converted to an integer multiple of 2**-1074 and added as a Python integer), the
extremes and histogram counts are exact, and the block boundaries of the float
sums are fixed by the draw index (blocks of :data:`BLOCK_SIZE` draws).

Quantiles from a histogram: the k-th order statistic is placed inside its bin by
the rank within the bin, and the quantile interpolated between order statistics
as NumPy's ``linear`` method does. **Error bound**: both order statistics lie in
their bins, so the streamed quantile is within one bin width of the exact one
(:attr:`StreamedDistribution.quantile_error_bound`). The bin range is set from the
first block of draws (its range widened by half its span on either side); if a
requested quantile falls outside it, the statistics are recomputed over the exact
range of all draws (a second pass, deterministic), so the bound always holds.

Monte Carlo standard errors have two parts.

* **Futures**: given the posterior sample, the futures are independent (each is a
  pure function of its counter), so the mean's error is ``sd / sqrt(N)`` and a
  quantile's the asymptotic ``sqrt(p (1 - p) / N) / f(q)`` (e.g. Serfling 1980,
  *Approximation theorems of mathematical statistics*, §2.3.3), with the density
  ``f`` at the quantile estimated by the share of draws within ``sd * N**(-1/5)``
  of it (:meth:`Distribution.futures_mcse`).
* **Posterior sample**: the futures reuse a finite, autocorrelated MCMC sample of
  each model, which a re-run with another seed replaces. By the delta method a
  quantile's error is that of the distribution function at it,
  ``se(q_p) = se(F(q_p)) / f(q_p)``. For each model the posterior draws
  (chain-major, so consecutive draws are consecutive in a chain) are cut into
  :data:`POSTERIOR_BATCHES` contiguous batches and ``F_b(q)`` is the share of the
  futures that used batch b with total NER <= q; the variance of their weighted
  mean is the batch-means estimate (Flegal & Jones 2010, *Annals of Statistics*
  38:1034, with batches of >= 50 draws, long beside the chains' autocorrelation)
  of that model's posterior-sample variance plus the futures' ``p(1-p)/N``, which
  is subtracted; the models' parts add (independent samples)
  (:meth:`Distribution.posterior_mcse`). Tracked for the period total of NER, the
  quantity the Monte Carlo gate reads; for single years it is NaN.

:meth:`Distribution.quantile_mcse` is the total, ``sqrt(futures^2 + posterior^2)``.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numba
import numpy as np

from simulator.engine.kernels import KernelInputs, SimulationResult, simulate, simulate_into
from simulator.errors import SimulationError
from simulator.files import atomic_path

log = logging.getLogger(__name__)

__all__ = [
    "BLOCK_SIZE",
    "N_BINS",
    "QUANTITIES",
    "HISTOGRAMMED",
    "Distribution",
    "Draws",
    "StreamedDistribution",
    "Summary",
    "ChunkStats",
    "Grid",
    "summarise_draws",
    "period_totals",
    "chunk_plan",
    "simulate_chunk",
    "kernel_batches",
    "stream",
    "checkpointed",
    "serial_runner",
    "Runner",
    "quantile_mcse",
    "mc_relative_error",
    "as_distribution",
    "as_summary",
    "CI_BOUNDS",
    "POSTERIOR_BATCHES",
    "COARSE",
    "posterior_batch_variance",
]

#: Draws per block: float sums run sequentially within a block, blocks add exactly.
BLOCK_SIZE = 65_536
#: Histogram bins per quantity and period (quantile error <= one bin width).
N_BINS = 16_384
#: Quantities summarised per draw and period (tCO2e, baseline loss in ha).
QUANTITIES = ("baseline", "project", "leakage", "gross", "ner", "baseline_loss")
#: Quantities whose quantiles are needed (the others: mean and SD only); gross for ART
#: TREES, whose Eq. 11 takes the interval of gross reductions.
HISTOGRAMMED = ("baseline", "project", "leakage", "gross", "ner", "baseline_loss")
_HIST_INDEX = tuple(QUANTITIES.index(q) for q in HISTOGRAMMED)
_NER_HIST = HISTOGRAMMED.index("ner")
#: Batches of each model's posterior draws for the posterior-sample Monte Carlo error.
POSTERIOR_BATCHES = 32
#: Fine histogram bins per coarse bin of the per-batch histograms of total NER.
COARSE = 16
_N_COARSE = N_BINS // COARSE
_SCALE = 1074  # every finite float64 is an integer multiple of 2**-1074


# --------------------------------------------------------------------------- the interface


class Distribution:
    """Statistics of one simulated quantity over its periods (arrays over trailing axes)."""

    n: int

    @property
    def mean(self) -> np.ndarray:
        raise NotImplementedError

    @property
    def sd(self) -> np.ndarray:
        raise NotImplementedError

    def quantile(self, p) -> np.ndarray:
        """Quantiles ``p`` (NumPy's ``linear``), shape ``(len(p), ...)`` or ``(...)``."""
        raise NotImplementedError

    def density(self, x: np.ndarray, half_window: np.ndarray) -> np.ndarray:
        """Share of draws within ``half_window`` of ``x``, per unit length."""
        raise NotImplementedError

    def histogram(self, period: int, bins: int = 120) -> tuple[np.ndarray, np.ndarray, int]:
        """Counts of one period's draws in about ``bins`` equal bins over their range.

        Returns ``(edges, counts, n_outside)``; ``n_outside`` counts draws outside the
        edges (streamed histograms only, beyond the binned range).
        """
        raise NotImplementedError

    @property
    def mean_mcse(self) -> np.ndarray:
        """Monte Carlo standard error of the mean (independent draws)."""
        return self.sd / np.sqrt(self.n)

    def futures_mcse(self, p: float) -> np.ndarray:
        """Futures part of the Monte Carlo error of the ``p`` quantile, :func:`quantile_mcse`."""
        return quantile_mcse(self, p)

    def posterior_variance_of_cdf(self, q: np.ndarray) -> np.ndarray:
        """Posterior-sample variance of ``F(q)`` per period (NaN where not tracked)."""
        return np.full(np.shape(q), np.nan)

    def posterior_mcse(self, p: float) -> np.ndarray:
        """Posterior-sample part of the Monte Carlo error of the ``p`` quantile (module doc).

        NaN for periods where it is not tracked (single years).
        """
        q = self.quantile(p)
        h = np.maximum(self.sd * self.n ** (-0.2), np.finfo(float).tiny)
        f = self.density(q, h)
        var = self.posterior_variance_of_cdf(q)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(f > 0, np.sqrt(var) / f, np.where(np.isnan(var), np.nan, np.inf))

    def quantile_mcse(self, p: float) -> np.ndarray:
        """Monte Carlo standard error of the ``p`` quantile: futures and posterior sample.

        Where the posterior-sample part is not tracked (NaN), the futures part alone.
        """
        fut = self.futures_mcse(p)
        post = self.posterior_mcse(p)
        return np.where(np.isnan(post), fut, np.sqrt(fut**2 + np.nan_to_num(post) ** 2))


def quantile_mcse(dist: Distribution, p: float) -> np.ndarray:
    """Asymptotic standard error of a sample quantile, ``sqrt(p(1-p)/N) / f(q_p)``.

    Serfling (1980) §2.3.3; the density ``f`` is the share of draws within
    ``h = sd * N**(-1/5)`` of ``q_p`` divided by ``2h`` (a box-kernel estimate with
    the usual bandwidth rate). ``inf`` where no draw falls in the window.
    """
    q = dist.quantile(p)
    h = np.maximum(dist.sd * dist.n ** (-0.2), np.finfo(float).tiny)
    f = dist.density(q, h)
    with np.errstate(divide="ignore"):
        return np.where(f > 0, np.sqrt(p * (1.0 - p) / dist.n) / f, np.inf)


def posterior_batch_variance(
    below: np.ndarray, n_in_batch: np.ndarray, n_batches: np.ndarray, p: float
) -> float:
    """Posterior-sample variance of ``F(q)`` from per-model, per-batch counts (module doc).

    Parameters
    ----------
    below : array (K, B)
        Futures with total NER <= q per picked input and batch (may be fractional).
    n_in_batch : array (K, B)
        Futures per picked input and batch.
    n_batches : array (K,)
        Batches in use per model (``min(POSTERIOR_BATCHES, draws)``).
    p : float
        ``F(q)``, for the futures' part ``p (1 - p) / N`` that is subtracted.
    """
    total = 0.0
    for m in range(len(n_batches)):
        b = int(n_batches[m])
        if b < 2:
            continue  # one posterior draw (or batch): no posterior-sample error
        n_b = np.asarray(n_in_batch[m, :b], dtype=float)
        n = n_b.sum()
        used = n_b > 0
        f_b = np.where(used, np.asarray(below[m, :b], dtype=float) / np.maximum(n_b, 1), 0.0)
        mean = float(np.sum(n_b * f_b) / n)
        var = float(np.sum((n_b / n) ** 2 * (f_b - mean) ** 2) * b / (b - 1))
        total += max(var - p * (1.0 - p) / n, 0.0)
    return total


def batch_of(picks: np.ndarray, n_posterior) -> tuple[np.ndarray, np.ndarray]:
    """Batch of each future's posterior draw per model, ``idx * B // n``; and the B's."""
    n_post = np.asarray(n_posterior, dtype=np.int64)
    n_batches = np.minimum(POSTERIOR_BATCHES, n_post)
    return np.asarray(picks, dtype=np.int64) * n_batches[None, :] // n_post[None, :], n_batches


class Draws(Distribution):
    """A distribution held as its draws (first axis).

    With ``picks`` (``(n, 3)``, each draw's posterior draw per model) and
    ``n_posterior`` (the models' posterior sample sizes) the posterior-sample
    error of the last period (the total) is estimated as for a streamed run.
    """

    def __init__(self, draws: np.ndarray, picks=None, n_posterior=None):
        self.draws = np.asarray(draws, dtype=np.float64)
        self.n = self.draws.shape[0]
        self.picks = picks
        self.n_posterior = n_posterior
        self._quantiles: dict[tuple, np.ndarray] = {}  # the draws are not changed after this

    def posterior_variance_of_cdf(self, q):
        out = np.full(np.shape(q), np.nan)
        if self.picks is None or self.n_posterior is None or self.draws.ndim != 2:
            return out
        batch, n_batches = batch_of(self.picks, self.n_posterior)
        x = self.draws[:, -1]
        below_q = (x <= q[-1]).astype(float)
        b_max = POSTERIOR_BATCHES
        k = batch.shape[1]
        below = np.array([np.bincount(batch[:, m], below_q, b_max) for m in range(k)])
        n_in = np.array([np.bincount(batch[:, m], minlength=b_max) for m in range(k)])
        out[-1] = posterior_batch_variance(below, n_in, n_batches, float(below_q.mean()))
        return out

    @property
    def mean(self):
        return self.draws.mean(axis=0)

    @property
    def sd(self):
        return self.draws.std(axis=0, ddof=1) if self.n > 1 else np.zeros(self.draws.shape[1:])

    def quantile(self, p):
        # An interval summary asks for each of its few levels several times (the bound,
        # its two Monte Carlo errors): each level is computed once per distribution.
        key = tuple(np.ravel(p).tolist()) + (np.ndim(p),)
        if key not in self._quantiles:
            self._quantiles[key] = np.quantile(self.draws, p, axis=0)
        return self._quantiles[key].copy()

    def density(self, x, half_window):
        near = np.abs(self.draws - x) <= half_window
        return near.mean(axis=0) / (2.0 * half_window)

    def histogram(self, period, bins=120):
        counts, edges = np.histogram(self.draws[:, period], bins=bins)
        return edges, counts, 0


def as_distribution(x) -> Distribution:
    """A :class:`Distribution` as is; an array of draws as :class:`Draws`."""
    return x if isinstance(x, Distribution) else Draws(x)


# --------------------------------------------------------------------------- exact sums


def _exact_ints(values: np.ndarray) -> list[int]:
    """Each float as the integer ``value * 2**1074`` (exact)."""
    mant, expo = np.frexp(np.ravel(values))
    ints = (mant * 2.0**53).astype(np.int64).tolist()
    shifts = (expo.astype(np.int64) - 53 + _SCALE).tolist()
    return [m << s if s >= 0 else m >> -s for m, s in zip(ints, shifts, strict=True)]


def _exact_column_sums(block_sums: np.ndarray) -> list[int]:
    """Exact sums over the first axis of ``(n_blocks, K)`` floats, as scaled integers."""
    k = block_sums.shape[1]
    ints = _exact_ints(block_sums)
    return [sum(ints[j::k]) for j in range(k)]


def _to_float(numerator: int, denominator: int) -> float:
    return float(Fraction(numerator, denominator)) if denominator else math.nan


# --------------------------------------------------------------------------- histogram grid


@dataclass(frozen=True)
class Grid:
    """Histogram bins of each histogrammed quantity and period: ``lo + width * [0..N_BINS]``."""

    lo: np.ndarray  # (H, P)
    width: np.ndarray  # (H, P)

    @classmethod
    def around(cls, mins: np.ndarray, maxs: np.ndarray, widen: float) -> Grid:
        """Bins over ``[min - widen * span, max + widen * span]``.

        Where all values are equal the bins cover ``value +- max(|value|, 1) / 2``.
        """
        span = maxs - mins
        pad = np.where(span > 0, widen * span, 0.5 * np.maximum(np.abs(maxs), 1.0))
        lo = mins - pad
        hi = maxs + pad
        # a hair wider so that the maximum falls inside the last bin
        return cls(lo, (hi - lo) * (1.0 + 1e-12) / N_BINS)


# --------------------------------------------------------------------------- chunk statistics


@numba.njit(parallel=True, cache=True)
def _accumulate(
    eb,
    ep,
    lk,
    loss,
    offset,
    block_size,
    n_groups,
    hist_q,
    lo,
    inv_width,
    block_sums,
    mins,
    maxs,
    counts,
    picks,
    n_post,
    n_batches,
    ner_hist,
    coarse,
    batch_counts,
):
    # Draws ``offset ..`` of a chunk. Each parallel task owns a set of periods and, one
    # period at a time, reads the draws in order, so every float sum is a sequential sum
    # over the draws of one block (continued across calls through ``block_sums``),
    # whatever the threading. Period by period, a task's writes go to that period's
    # histograms only (6 x 16,386 counts, about L2-sized), not scattered over all of them.
    n, n_years = eb.shape
    n_periods = n_years + 1
    n_q = mins.shape[0]
    n_h = hist_q.shape[0]
    n_bins = counts.shape[2] - 2
    for g in numba.prange(n_groups):
        v = np.empty(n_q)
        s1 = np.empty(n_q)
        s2 = np.empty(n_q)
        for p in range(g, n_periods, n_groups):
            blk = offset // block_size
            for q in range(n_q):
                s1[q] = block_sums[blk, q, p, 0]
                s2[q] = block_sums[blk, q, p, 1]
            for i in range(n):
                if (offset + i) // block_size != blk:  # a new block starts
                    for q in range(n_q):
                        block_sums[blk, q, p, 0] = s1[q]
                        block_sums[blk, q, p, 1] = s2[q]
                        s1[q] = 0.0
                        s2[q] = 0.0
                    blk = (offset + i) // block_size
                if p < n_years:
                    v[0] = eb[i, p]
                    v[1] = ep[i, p]
                    v[2] = lk[i, p]
                    v[5] = loss[i, p]
                else:  # the period total, years summed in order
                    v[0] = 0.0
                    v[1] = 0.0
                    v[2] = 0.0
                    v[5] = 0.0
                    for t in range(n_years):
                        v[0] += eb[i, t]
                        v[1] += ep[i, t]
                        v[2] += lk[i, t]
                        v[5] += loss[i, t]
                v[3] = v[0] - v[1]
                v[4] = v[3] - v[2]
                for q in range(n_q):
                    x = v[q]
                    s1[q] += x
                    s2[q] += x * x
                    if x < mins[q, p]:
                        mins[q, p] = x
                    if x > maxs[q, p]:
                        maxs[q, p] = x
                for h in range(n_h):
                    pos = (v[hist_q[h]] - lo[h, p]) * inv_width[h, p]
                    if pos < 0.0:
                        counts[h, p, 0] += 1
                    elif pos >= n_bins:
                        counts[h, p, n_bins + 1] += 1
                    else:
                        counts[h, p, np.int64(pos) + 1] += 1
                if p == n_years:
                    # total NER in coarse bins, per model and batch of its posterior draws
                    pos = (v[4] - lo[ner_hist, p]) * inv_width[ner_hist, p]
                    if pos < 0.0:
                        cb = 0
                    elif pos >= n_bins:
                        cb = n_bins // coarse + 1
                    else:
                        cb = np.int64(pos) // coarse + 1
                    for mdl in range(n_post.shape[0]):
                        b = picks[i, mdl] * n_batches[mdl] // n_post[mdl]
                        batch_counts[mdl, b, cb] += 1
            for q in range(n_q):
                block_sums[blk, q, p, 0] = s1[q]
                block_sums[blk, q, p, 1] = s2[q]


@dataclass
class ChunkStats:
    """Mergeable statistics of a set of draws (exact, order-independent).

    Attributes
    ----------
    n : int
        Draws.
    sums : list of int
        For each (quantity, period, power 1 or 2): the exact sum times ``2**1074``.
    mins, maxs : ndarray (Q, P)
    counts : ndarray (H, P, N_BINS + 2) of int64
        Histogram counts; index 0 is below the grid, the last above it.
    grid : Grid
    batch_counts : ndarray (K, POSTERIOR_BATCHES, N_BINS // COARSE + 2) of int64
        Histogram of total NER on the grid's bins merged by :data:`COARSE`, per
        independently picked input (K = 5, ``kernels.PICKED``) and batch of its draws
        (module docstring).
    n_batches : ndarray (K,) of int64
        Batches in use per model.
    """

    n: int
    sums: list[int]
    mins: np.ndarray
    maxs: np.ndarray
    counts: np.ndarray
    grid: Grid = field(repr=False)
    batch_counts: np.ndarray | None = field(default=None, repr=False)
    n_batches: np.ndarray | None = None

    def merge(self, other: ChunkStats) -> ChunkStats:
        """Statistics of the union of two disjoint sets of draws (exact)."""
        return ChunkStats(
            self.n + other.n,
            [a + b for a, b in zip(self.sums, other.sums, strict=True)],
            np.minimum(self.mins, other.mins),
            np.maximum(self.maxs, other.maxs),
            self.counts + other.counts,
            self.grid,
            self.batch_counts + other.batch_counts,
            self.n_batches,
        )


def _empty_stats(n_years: int, grid: Grid, n_posterior) -> ChunkStats:
    n_q, n_p = len(QUANTITIES), n_years + 1
    return ChunkStats(
        0,
        [0] * (n_q * n_p * 2),
        np.full((n_q, n_p), np.inf),
        np.full((n_q, n_p), -np.inf),
        np.zeros((len(HISTOGRAMMED), n_p, N_BINS + 2), dtype=np.int64),
        grid,
        np.zeros((len(n_posterior), POSTERIOR_BATCHES, _N_COARSE + 2), dtype=np.int64),
        np.minimum(POSTERIOR_BATCHES, np.asarray(n_posterior, dtype=np.int64)),
    )


def _add_draws(stats: ChunkStats, sims: Iterable[SimulationResult], n_posterior) -> ChunkStats:
    """Add consecutive sets of draws, the first starting on a block boundary, in place."""
    block_sums = None
    offset = 0
    for sim in sims:
        n, n_years = sim.baseline.shape
        if block_sums is None:
            if sim.draw_start % BLOCK_SIZE:
                raise ValueError(f"draws must start on a block boundary, got {sim.draw_start}")
            first = sim.draw_start
            block_sums = {}
        blk0 = offset // BLOCK_SIZE
        rows = np.zeros((-(-(offset + n) // BLOCK_SIZE) - blk0, len(QUANTITIES), n_years + 1, 2))
        if blk0 in block_sums:  # continue the open block's sums
            rows[0] = block_sums.pop(blk0)
        if sim.draw_start != first + offset:
            raise ValueError("draws must be consecutive")
        _accumulate(
            sim.baseline,
            sim.project,
            sim.leakage,
            sim.baseline_loss_ha,
            offset % BLOCK_SIZE,
            BLOCK_SIZE,
            min(n_years + 1, numba.get_num_threads()),
            np.array(_HIST_INDEX, dtype=np.int64),
            stats.grid.lo,
            1.0 / stats.grid.width,
            rows,
            stats.mins,
            stats.maxs,
            stats.counts,
            sim.picks if sim.picks is not None else np.zeros((n, len(n_posterior)), dtype=np.int64),
            np.asarray(n_posterior, dtype=np.int64),
            stats.n_batches,
            _NER_HIST,
            COARSE,
            stats.batch_counts,
        )
        offset += n
        complete = rows.shape[0] if offset % BLOCK_SIZE == 0 else rows.shape[0] - 1
        if complete:
            _add_sums(stats, rows[:complete])
        if complete < rows.shape[0]:
            block_sums[offset // BLOCK_SIZE] = rows[-1]
        stats.n += n
    for row in (block_sums or {}).values():  # the last, partial block
        _add_sums(stats, row[None])
    return stats


def _add_sums(stats: ChunkStats, rows: np.ndarray) -> None:
    sums = _exact_column_sums(rows.reshape(rows.shape[0], -1))
    stats.sums = [a + b for a, b in zip(stats.sums, sums, strict=True)]


def _chunk_stats(sim: SimulationResult, grid: Grid, n_posterior) -> ChunkStats:
    return _add_draws(_empty_stats(sim.baseline.shape[1], grid, n_posterior), [sim], n_posterior)


#: Draws per kernel call inside a chunk: small enough for the buffers to stay in cache.
KERNEL_BATCH = 8_192


def simulate_chunk(
    inputs: KernelInputs, seed: int, draw_start: int, n_draws: int, grid: Grid
) -> ChunkStats:
    """Simulate draws ``draw_start ..`` and reduce them to :class:`ChunkStats`.

    Memory: one buffer of :data:`KERNEL_BATCH` draws (x T per quantity), reused.
    """
    batches = kernel_batches(inputs, seed, draw_start, n_draws)
    return _add_draws(
        _empty_stats(inputs.n_years, grid, inputs.n_posterior), batches, inputs.n_posterior
    )


def kernel_batches(
    inputs: KernelInputs, seed: int, draw_start: int, n_draws: int, batch: int = KERNEL_BATCH
) -> Iterator[SimulationResult]:
    """Simulate draws ``draw_start ..`` in batches of ``batch`` draws into one reused buffer.

    Each yielded result is a view of the buffer, overwritten by the next batch.
    """
    shape = (min(batch, n_draws), inputs.n_years)
    buf = [np.empty(shape) for _ in range(4)]
    picks = np.empty((shape[0], len(inputs.n_posterior)), dtype=np.int64)
    for lo in range(draw_start, draw_start + n_draws, batch):
        m = min(batch, draw_start + n_draws - lo)
        out = SimulationResult(*(a[:m] for a in buf), seed=seed, draw_start=lo, picks=picks[:m])
        simulate_into(inputs, seed, lo, out)
        yield out


def chunk_plan(n_draws: int, chunk_size: int) -> list[tuple[int, int]]:
    """``(draw_start, n)`` of each chunk: whole blocks, ``chunk_size`` rounded up to blocks."""
    step = max(1, -(-chunk_size // BLOCK_SIZE)) * BLOCK_SIZE
    return [(lo, min(step, n_draws - lo)) for lo in range(0, n_draws, step)]


# --------------------------------------------------------------------------- streamed results


class StreamedDistribution(Distribution):
    """One quantity's streamed statistics, arrays over periods."""

    def __init__(self, stats: ChunkStats, q: int):
        self.n = stats.n
        n_p = stats.mins.shape[1]
        base = q * n_p * 2
        s1 = [stats.sums[base + 2 * p] for p in range(n_p)]
        s2 = [stats.sums[base + 2 * p + 1] for p in range(n_p)]
        n = self.n
        self._mean = np.array([_to_float(a, n << _SCALE) for a in s1])
        # (sum x^2 - (sum x)^2 / n) / (n - 1), exactly, then rounded once
        self._var = np.array(
            [
                _to_float(max(b * (n << _SCALE) - a * a, 0), (n * (n - 1)) << (2 * _SCALE))
                for a, b in zip(s1, s2, strict=True)
            ]
        )
        self.min = stats.mins[q]
        self.max = stats.maxs[q]
        self.name = QUANTITIES[q]
        h = HISTOGRAMMED.index(self.name) if self.name in HISTOGRAMMED else None
        self.counts = None if h is None else stats.counts[h]
        self._cum = None if h is None else np.cumsum(self.counts, axis=1)
        self.lo = None if h is None else stats.grid.lo[h]
        self.width = None if h is None else stats.grid.width[h]
        self.batch_counts = stats.batch_counts if self.name == "ner" else None
        self.n_batches = stats.n_batches

    def posterior_variance_of_cdf(self, q):
        out = np.full(np.shape(q), np.nan)
        if self.batch_counts is None:
            return out
        p = q.shape[0] - 1  # the period total
        # position of q on the coarse grid; F_b(q) interpolated linearly within its bin
        x = (q[p] - self.lo[p]) / (self.width[p] * COARSE)
        c = int(np.floor(x))
        frac = x - c
        counts = self.batch_counts.astype(float)  # (3, B, NC + 2)
        cum = np.cumsum(counts, axis=2)
        n_in = cum[:, :, -1]
        if c < 0:
            below = counts[:, :, 0] * 0.0
        elif c >= _N_COARSE:
            below = cum[:, :, _N_COARSE]
        else:
            below = cum[:, :, c] + frac * counts[:, :, c + 1]
        f_q = float(below[0].sum() / max(n_in[0].sum(), 1))
        out[p] = posterior_batch_variance(below, n_in, self.n_batches, f_q)
        return out

    @property
    def mean(self):
        return self._mean

    @property
    def sd(self):
        return np.sqrt(self._var)

    @property
    def quantile_error_bound(self) -> np.ndarray:
        """Largest possible difference from the exact (NumPy ``linear``) quantile: a bin width."""
        return self.width

    def _order_stat(self, k: np.ndarray) -> np.ndarray:
        """Estimate of the k-th smallest draw (0-based) per period; NaN if outside the grid."""
        out = np.empty(k.shape)
        for p in range(k.shape[0]):
            if k[p] <= 0:
                out[p] = self.min[p]
                continue
            if k[p] >= self.n - 1:
                out[p] = self.max[p]
                continue
            cum = self._cum[p]
            b = int(np.searchsorted(cum, k[p], side="right"))
            if b == 0 or b == len(cum) - 1:
                out[p] = np.nan  # below or above the grid
                continue
            within = (k[p] - (cum[b - 1]) + 0.5) / self.counts[p, b]
            x = self.lo[p] + (b - 1 + within) * self.width[p]
            out[p] = min(max(x, self.min[p]), self.max[p])
        return out

    def quantile(self, p):
        if self.counts is None:
            raise ValueError(f"quantiles of {self.name!r} are not tracked")
        ps = np.atleast_1d(np.asarray(p, dtype=float))
        rows = []
        for pi in ps:
            h = (self.n - 1) * pi
            k = math.floor(h)
            g = h - k
            lo = self._order_stat(np.full(self.min.shape, k))
            hi = self._order_stat(np.full(self.min.shape, min(k + 1, self.n - 1)))
            rows.append(lo + g * (hi - lo))
        out = np.array(rows)
        return out if np.ndim(p) else out[0]

    def density(self, x, half_window):
        out = np.empty(self.min.shape)
        for p in range(out.shape[0]):
            m = max(1, int(round(half_window[p] / self.width[p])))
            b = int(np.floor((x[p] - self.lo[p]) / self.width[p])) + 1
            lo, hi = max(b - m, 1), min(b + m, N_BINS)
            window = (hi - lo + 1) * self.width[p]
            out[p] = self.counts[p, lo : hi + 1].sum() / self.n / window
        return out

    def histogram(self, period, bins=120):
        inner = self.counts[period, 1:-1]
        used = np.flatnonzero(inner)
        first, last = (used[0], used[-1] + 1) if used.size else (0, N_BINS)
        group = max(1, -(-(last - first) // bins))
        last = first + group * (-(-(last - first) // group))
        padded = np.zeros(last - first, dtype=np.int64)
        padded[: min(last, N_BINS) - first] = inner[first : min(last, N_BINS)]
        counts = padded.reshape(-1, group).sum(axis=1)
        edges = self.lo[period] + self.width[period] * np.arange(first, last + 1, group)
        outside = int(self.counts[period, 0] + self.counts[period, -1])
        return edges, counts, outside

    def outside_grid(self, ps) -> bool:
        """Whether any of the quantiles ``ps`` falls outside the histogram grid."""
        return bool(np.any(np.isnan(self.quantile(list(ps)))))


@dataclass(frozen=True)
class Summary:
    """Distributions of every quantity in :data:`QUANTITIES`, per period (years, then total).

    Attributes
    ----------
    n_draws, n_years, seed : int
    distributions : dict of str to Distribution
    convergence : dict of str to ndarray, optional
        Total NER's ``mean``, ``ci_low`` and ``ci_high`` (90% interval) over the first
        ``n`` draws: 1,024, 2,048, ... within the first block (exact), then after each
        chunk in draw order; for the Monte Carlo convergence figure.
    """

    n_draws: int
    n_years: int
    seed: int
    distributions: dict[str, Distribution]
    convergence: dict[str, np.ndarray] | None = None

    def __getitem__(self, name: str) -> Distribution:
        return self.distributions[name]


def summarise_draws(sim: SimulationResult, n_posterior=None) -> Summary:
    """The exact :class:`Summary` of draws held in memory.

    ``n_posterior`` (default ``sim.n_posterior``): the models' posterior sample
    sizes; with ``sim.picks`` it gives NER's posterior-sample Monte Carlo error.
    """
    n_posterior = n_posterior if n_posterior is not None else sim.n_posterior

    def with_total(a):
        return np.concatenate([a, _sum_years(a)[:, None]], axis=1)

    b, p, lk, loss = (
        with_total(a) for a in (sim.baseline, sim.project, sim.leakage, sim.baseline_loss_ha)
    )
    values = {
        "baseline": b,
        "project": p,
        "leakage": lk,
        "gross": b - p,
        "ner": b - p - lk,
        "baseline_loss": loss,
    }
    n, n_years = sim.baseline.shape
    dists = {
        k: Draws(v, sim.picks, n_posterior) if k == "ner" else Draws(v) for k, v in values.items()
    }
    return Summary(n, n_years, sim.seed, dists)


def _sum_years(a: np.ndarray) -> np.ndarray:
    """Each draw's sum over the years, in year order (as the streamed totals are summed)."""
    total = a[:, 0].copy()
    for t in range(1, a.shape[1]):
        total += a[:, t]
    return total


def period_totals(sim: SimulationResult) -> SimulationResult:
    """``sim`` reduced to one "year", each draw's whole-period total.

    Its summary's whole-period statistics are bit for bit those of ``sim`` (the totals
    are summed as :func:`summarise_draws` sums them, and every statistic is taken per
    period), at the cost of one period instead of all: for a caller that needs only
    the whole period.
    """
    return SimulationResult(
        *(
            _sum_years(a)[:, None]
            for a in (sim.baseline, sim.project, sim.leakage, sim.baseline_loss_ha)
        ),
        seed=sim.seed,
        draw_start=sim.draw_start,
        picks=sim.picks,
        n_posterior=sim.n_posterior,
    )


def as_summary(sim: Summary | SimulationResult) -> Summary:
    """A :class:`Summary` as is; draws held in memory summarised exactly."""
    return sim if isinstance(sim, Summary) else summarise_draws(sim)


#: Quantiles every run needs from the histograms (CI bounds at 90% and 95%, quartiles).
_NEEDED = (0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975)

#: A function that runs ``simulate_chunk`` for each chunk of a plan, yielding
#: ``(draw_start, ChunkStats)`` in any order.
Runner = Callable[
    [KernelInputs, int, list[tuple[int, int]], Grid], Iterable[tuple[int, ChunkStats]]
]


def serial_runner(inputs, seed, plan, grid) -> Iterator[tuple[int, ChunkStats]]:
    """The default runner: the chunks one after the other in this process."""
    for start, n in plan:
        yield start, simulate_chunk(inputs, seed, start, n, grid)


def _stats_digest(inputs: KernelInputs, seed: int, grid: Grid) -> str:
    """Identity of a chunk's inputs: kernel inputs, seed, grid and the summary layout."""
    h = hashlib.sha256(
        f"{seed}|{BLOCK_SIZE}|{N_BINS}|{QUANTITIES}|{HISTOGRAMMED}|{POSTERIOR_BATCHES}|{COARSE}".encode()
    )
    for value in (*vars(inputs).values(), grid.lo, grid.width):
        if value is not None:
            h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()[:20]


def _save_stats(path: Path, stats: ChunkStats) -> None:
    with atomic_path(path) as tmp:  # a checkpoint is either whole or absent
        np.savez_compressed(
            tmp,
            n=stats.n,
            sums=np.array([str(v) for v in stats.sums]),
            mins=stats.mins,
            maxs=stats.maxs,
            counts=stats.counts,
            batch_counts=stats.batch_counts,
            n_batches=stats.n_batches,
        )


def _load_stats(path: Path, grid: Grid) -> ChunkStats:
    with np.load(path, allow_pickle=False) as f:
        return ChunkStats(
            int(f["n"]),
            [int(v) for v in f["sums"]],
            f["mins"],
            f["maxs"],
            f["counts"],
            grid,
            f["batch_counts"],
            f["n_batches"],
        )


def checkpointed(runner: Runner, directory: Path) -> Runner:
    """A runner that saves each finished chunk under ``directory`` and reuses saved ones.

    Chunks are keyed by a digest of the kernel inputs, seed and histogram grid, so a
    checkpoint is only reused by the identical computation; files are written
    atomically and read without unpickling. An interrupted run resumed this way gives
    the same numbers as an uninterrupted one (chunk statistics are exact).
    """

    def run(inputs, seed, plan, grid):
        where = Path(directory) / _stats_digest(inputs, seed, grid)
        where.mkdir(parents=True, exist_ok=True)
        todo = [(start, n) for start, n in plan if not (where / f"{start}-{n}.npz").exists()]
        if len(todo) < len(plan):
            reused = len(plan) - len(todo)
            log.info("reusing %d of %d saved chunks from %s", reused, len(plan), where)
        missing = set(todo)
        for start, n in plan:
            if (start, n) not in missing:
                yield start, _load_stats(where / f"{start}-{n}.npz", grid)
        for start, stats in runner(inputs, seed, todo, grid):
            _save_stats(where / f"{start}-{stats.n}.npz", stats)
            yield start, stats

    return run


def _snapshot(stats: ChunkStats | Distribution, track: dict[str, list]) -> None:
    """Append total NER's mean and 90% interval after ``stats.n`` draws to ``track``."""
    ner = (
        StreamedDistribution(stats, QUANTITIES.index("ner"))
        if isinstance(stats, ChunkStats)
        else stats
    )
    lo, hi = ner.quantile([0.05, 0.95])
    track["n"].append(ner.n)
    track["mean"].append(ner.mean[-1])
    track["ci_low"].append(lo[-1])
    track["ci_high"].append(hi[-1])


def _reporting(chunks, done: int, target: int, on_progress) -> Iterator[tuple[int, ChunkStats]]:
    """``chunks`` as they come, telling ``on_progress`` the futures done so far."""
    on_progress(done, target)
    for start, stats in chunks:
        done += stats.n
        on_progress(done, target)
        yield start, stats


def _merge_in_order(
    results: Iterable[tuple[int, ChunkStats]],
    plan: list[tuple[int, int]],
    merged: ChunkStats,
    track: dict[str, list],
) -> ChunkStats:
    """Merge chunk statistics into ``merged`` in draw order (buffering early arrivals)."""
    pending: dict[int, ChunkStats] = {}
    starts = iter(s for s, _ in plan)
    expected = next(starts, None)
    for start, stats in results:
        pending[start] = stats
        while expected is not None and expected in pending:
            merged = merged.merge(pending.pop(expected))
            _snapshot(merged, track)
            expected = next(starts, None)
    if expected is not None or pending:
        raise SimulationError("simulation chunks are missing or duplicated")
    return merged


#: Quantiles whose Monte Carlo error :func:`mc_relative_error` checks (90% and 95% bounds).
CI_BOUNDS = (0.025, 0.05, 0.95, 0.975)


def mc_relative_error(dist: Distribution, part: str = "total") -> np.ndarray:
    """Largest MC standard error of the 90% and 95% CI bounds over |mean|, per period.

    ``part``: ``"total"`` (futures and posterior sample), or ``"futures"`` alone
    (what more simulated futures can reduce).
    """
    fn = dist.futures_mcse if part == "futures" else dist.quantile_mcse
    se = np.max([fn(p) for p in CI_BOUNDS], axis=0)
    with np.errstate(divide="ignore"):
        return np.where(dist.mean != 0, se / np.abs(dist.mean), np.inf)


def stream(
    inputs: KernelInputs,
    n_draws: int,
    seed: int,
    chunk_size: int = 1_048_576,
    runner: Runner | None = None,
    mc_tolerance: float | None = None,
    max_draws: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Simulate ``n_draws`` futures and summarise them in memory independent of ``n_draws``.

    Parameters
    ----------
    inputs : KernelInputs
    n_draws, seed : int
    chunk_size : int
        Draws per chunk (rounded up to whole blocks); results do not depend on it.
    runner : callable, optional
        Executes the chunks (default: one after the other in this process);
        :mod:`simulator.orchestration.batch` passes one that uses a Dask cluster.
    mc_tolerance : float, optional
        Keep doubling the number of draws (up to ``max_draws``) until the futures
        part of :func:`mc_relative_error` of NER is at most this in every period
        (the posterior-sample part does not shrink with more futures). Then
        ``n_draws`` is first rounded up to whole blocks (a block's float sum must
        never be split), and the final count is that times ``2**k``: it too depends
        only on the inputs and the seed.
    max_draws : int, optional
        Ceiling for ``mc_tolerance`` (default ``64 * n_draws``).
    on_progress : callable, optional
        Called as ``on_progress(done, target)`` (futures) after the pilot block and
        each chunk as it arrives; ``target`` grows when ``mc_tolerance`` asks for more.
        It cannot change the numbers.

    Returns
    -------
    Summary
        With :class:`StreamedDistribution` for every quantity.
    """
    if n_draws < 2:
        raise ValueError("n_draws must be >= 2")
    runner = runner or serial_runner
    if mc_tolerance is not None:
        n_draws = -(-n_draws // BLOCK_SIZE) * BLOCK_SIZE
    max_draws = max(n_draws, max_draws or 64 * n_draws)
    pilot_n = min(BLOCK_SIZE, n_draws)
    pilot = simulate(inputs, pilot_n, seed, BLOCK_SIZE, 0)
    exact = summarise_draws(pilot)
    hist = np.array(_HIST_INDEX)
    grid = Grid.around(
        np.array([exact[q].draws.min(axis=0) for q in HISTOGRAMMED]),
        np.array([exact[q].draws.max(axis=0) for q in HISTOGRAMMED]),
        widen=0.5,
    )
    for attempt in range(2):
        stats = _chunk_stats(pilot, grid, inputs.n_posterior)
        track: dict[str, list] = {"n": [], "mean": [], "ci_low": [], "ci_high": []}
        n = 1024
        while n < pilot_n:  # prefixes of the pilot block, exact
            _snapshot(Draws(exact["ner"].draws[:n]), track)
            n *= 2
        _snapshot(stats, track)
        target = n_draws
        while True:
            plan = [(stats.n + s, n) for s, n in chunk_plan(target - stats.n, chunk_size)]
            chunks = runner(inputs, seed, plan, grid)
            if on_progress is not None:
                chunks = _reporting(chunks, stats.n, target, on_progress)
            stats = _merge_in_order(chunks, plan, stats, track)
            ner = StreamedDistribution(stats, QUANTITIES.index("ner"))
            if (
                mc_tolerance is None
                or target >= max_draws
                or (
                    not ner.outside_grid(CI_BOUNDS)
                    and np.all(mc_relative_error(ner, "futures") <= mc_tolerance)
                )
            ):
                break
            target = min(2 * target, max_draws)
        dists = {q: StreamedDistribution(stats, i) for i, q in enumerate(QUANTITIES)}
        if attempt == 1 or not any(dists[q].outside_grid(_NEEDED) for q in HISTOGRAMMED):
            break
        # a needed quantile lies beyond the pilot's range: bin the exact range instead
        grid = Grid.around(stats.mins[hist], stats.maxs[hist], widen=0.0)
    conv = {k: np.asarray(v) for k, v in track.items()}
    return Summary(stats.n, inputs.n_years, seed, dists, conv)
