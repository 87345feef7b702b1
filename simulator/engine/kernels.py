"""Forward simulation of the crediting period (numba), one draw = one future.

For draw i, stratum s, year t = 1..T, with forest F_s,0 = A_s (DESIGN §3.4)::

    r_t    = exp(m_k,t + sigma_k z_i,t)           projected loss rate, z from the counter RNG
             (allocated baseline: r_t = L_k,t / sum_s F^b_s,t-1 w_s, so sum_s D^b_st = L_k,t)
    D^b_st = F^b_s,t-1 r_t w_s ;  F^b_st = F^b_s,t-1 - D^b_st
    D^p_st = D^b_st (1 - e_k)
    dC_s   = C_j,s - Cpost_k
    E^b_t  = sum_s D^b_st dC_s ;  E^p_t = sum_s D^p_st dC_s
    L_t    = lambda_l (E^b_t - E^p_t)

where j, k, l are the posterior draws of the biomass, deforestation and leakage
models picked for draw i by the counter RNG (the models are independent, so
independent picks form joint posterior draws). Emissions are committed in the
year of deforestation (VM0007 convention).

:func:`_simulate` is the private kernel (loops and arithmetic into preallocated
outputs, status flags instead of exceptions); :func:`simulate` validates inputs,
allocates, splits the draws into chunks and turns flags into errors. Because
every random number is a function of (seed, draw, year, stratum, stream),
results are bit-identical for any chunk size and thread count
(``NUMBA_NUM_THREADS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from simulator.engine import rng
from simulator.errors import SimulationError

__all__ = ["KernelInputs", "SimulationResult", "simulate", "simulate_into", "MODEL_STREAMS"]

#: Sub-stream (``stratum`` slot of the counter) of each model's posterior pick.
MODEL_STREAMS = rng.MODEL_STREAMS


@dataclass(frozen=True)
class KernelInputs:
    """Posterior draws and project constants, as contiguous float64 arrays.

    Attributes
    ----------
    carbon_density : (n_biomass, S)
        Stratum mean carbon density, tCO2e/ha.
    log_rate_mean : (n_deforestation, T)
        Mean log annual loss rate (fraction/yr) of each crediting year.
    rate_sigma : (n_deforestation,)
        Process-noise SD of the log rate.
    effectiveness : (n_deforestation,)
        Fraction of baseline deforestation the project prevents.
    post_carbon : (n_deforestation,)
        Carbon remaining after conversion, tCO2e/ha.
    leakage_fraction : (n_leakage,)
        Fraction of the project's reductions displaced (activity shifting).
    area : (S,)
        Forest area per stratum at the start, ha.
    risk : (S,)
        Relative deforestation risk, area-weighted mean 1.
    loss_target : (n_deforestation, T), optional
        ``allocated`` baseline: the project's baseline loss (ha/yr) per draw and
        year, spread over strata by risk-weighted remaining forest; when given,
        ``log_rate_mean`` and ``rate_sigma`` are not used.
    """

    carbon_density: np.ndarray
    log_rate_mean: np.ndarray
    rate_sigma: np.ndarray
    effectiveness: np.ndarray
    post_carbon: np.ndarray
    leakage_fraction: np.ndarray
    area: np.ndarray
    risk: np.ndarray
    loss_target: np.ndarray | None = None

    def __post_init__(self):
        for name, ndim in [
            ("carbon_density", 2),
            ("log_rate_mean", 2),
            ("rate_sigma", 1),
            ("effectiveness", 1),
            ("post_carbon", 1),
            ("leakage_fraction", 1),
            ("area", 1),
            ("risk", 1),
        ]:
            value = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            if value.ndim != ndim or value.size == 0:
                raise ValueError(
                    f"{name} must be a non-empty {ndim}-d array, got shape {value.shape}"
                )
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{name} has non-finite values")
            object.__setattr__(self, name, value)
        n_d = self.log_rate_mean.shape[0]
        for name in ("rate_sigma", "effectiveness", "post_carbon"):
            if getattr(self, name).shape != (n_d,):
                raise ValueError(f"{name} must have shape ({n_d},) like log_rate_mean's draws")
        n_strata = self.area.shape[0]
        if self.carbon_density.shape[1] != n_strata or self.risk.shape != (n_strata,):
            raise ValueError("carbon_density, area and risk must have the same strata")
        if self.loss_target is not None:
            target = np.ascontiguousarray(self.loss_target, dtype=np.float64)
            if target.shape != self.log_rate_mean.shape or not np.all(target >= 0):
                raise ValueError(
                    f"loss_target must be non-negative with shape {self.log_rate_mean.shape}"
                )
            object.__setattr__(self, "loss_target", target)

    @property
    def n_years(self) -> int:
        return self.log_rate_mean.shape[1]


@dataclass(frozen=True)
class SimulationResult:
    """Per draw and crediting year (arrays of shape ``(n_draws, T)``), tCO2e or ha."""

    baseline: np.ndarray
    project: np.ndarray
    leakage: np.ndarray
    baseline_loss_ha: np.ndarray
    seed: int
    draw_start: int


@numba.njit(parallel=True, cache=True)
def _simulate(
    seed,
    draw_start,
    carbon_density,
    log_rate_mean,
    rate_sigma,
    loss_target,
    allocated,
    effectiveness,
    post_carbon,
    leakage_fraction,
    area,
    risk,
    forest,
    dc,
    eb,
    ep,
    lk,
    loss,
    bad,
):
    # One draw per iteration, years in order (the forest carries over), strata innermost.
    # ``forest`` and ``dc`` are per-chunk scratch rows: nothing is allocated per draw.
    n, n_years = eb.shape
    n_strata = area.shape[0]
    n_b = carbon_density.shape[0]
    n_d = log_rate_mean.shape[0]
    n_l = leakage_fraction.shape[0]
    for i in numba.prange(n):
        key = rng.draw_key(seed, draw_start + np.uint64(i))
        j = rng.index_keyed(key, 0, rng.SLOT_BIOMASS, rng.STREAM_POSTERIOR, n_b)
        k = rng.index_keyed(key, 0, rng.SLOT_DEFORESTATION, rng.STREAM_POSTERIOR, n_d)
        m = rng.index_keyed(key, 0, rng.SLOT_LEAKAGE, rng.STREAM_POSTERIOR, n_l)
        kept = 1.0 - effectiveness[k]
        lam = leakage_fraction[m]
        mu = log_rate_mean[k]
        sigma = rate_sigma[k]
        f = forest[i]
        c = dc[i]
        for s in range(n_strata):
            f[s] = area[s]
            c[s] = carbon_density[j, s] - post_carbon[k]
        flag = 0
        for t in range(n_years):
            if allocated:
                # the allocated loss spread over strata by risk-weighted remaining forest
                weighted = 0.0
                for s in range(n_strata):
                    weighted += f[s] * risk[s]
                base = loss_target[k, t] / weighted
            else:
                base = np.exp(mu[t] + sigma * rng.normal_keyed(key, t, 0, rng.STREAM_RATE))
            eb_t = 0.0
            loss_t = 0.0
            for s in range(n_strata):
                rate = base * risk[s]
                if not rate < 1.0:  # also catches NaN
                    flag = 1
                lost = f[s] * rate
                f[s] -= lost
                eb_t += lost * c[s]
                loss_t += lost
            ep_t = eb_t * kept
            eb[i, t] = eb_t
            ep[i, t] = ep_t
            loss[i, t] = loss_t
            lk[i, t] = lam * (eb_t - ep_t)
        bad[i] = flag


def simulate_into(inputs: KernelInputs, seed: int, draw_start: int, out: SimulationResult):
    """Simulate ``len(out.baseline)`` draws from ``draw_start`` into preallocated arrays.

    ``out`` holds ``(n, T)`` arrays (its ``seed``/``draw_start`` are ignored); this is
    the allocation-free entry point of :func:`simulate` and of the streaming summaries.

    Raises
    ------
    SimulationError
        If any draw's stratum loss rate reaches 1 or is not finite.
    """
    if not 0 <= seed < 2**63 or draw_start < 0:
        raise ValueError(
            f"seed must be in [0, 2**63) and draw_start >= 0, got {seed}, {draw_start}"
        )
    n = out.baseline.shape[0]
    scratch = (n, inputs.area.shape[0])
    forest, dc = np.empty(scratch), np.empty(scratch)  # per-call scratch rows
    bad = np.zeros(n, dtype=np.int8)
    allocated = inputs.loss_target is not None
    _simulate(
        np.uint64(seed),
        np.uint64(draw_start),
        inputs.carbon_density,
        inputs.log_rate_mean,
        inputs.rate_sigma,
        inputs.loss_target if allocated else np.zeros((1, 1)),
        allocated,
        inputs.effectiveness,
        inputs.post_carbon,
        inputs.leakage_fraction,
        inputs.area,
        inputs.risk,
        forest,
        dc,
        out.baseline,
        out.project,
        out.leakage,
        out.baseline_loss_ha,
        bad,
    )
    n_bad = int(bad.sum())
    if n_bad:
        first = draw_start + int(np.argmax(bad))
        raise SimulationError(
            f"{n_bad} of {n} draws have an annual loss rate >= 100% in some stratum "
            f"(first: draw {first}); check the deforestation data and relative risks"
        )


def simulate(
    inputs: KernelInputs, n_draws: int, seed: int, chunk_size: int = 100_000, draw_start: int = 0
) -> SimulationResult:
    """Run the forward simulation for draws ``draw_start .. draw_start + n_draws - 1``.

    Parameters
    ----------
    inputs : KernelInputs
    n_draws : int
        Number of simulated futures.
    seed : int
        Seed of the counter RNG (0 <= seed < 2**63).
    chunk_size : int
        Draws per kernel call; results do not depend on it.
    draw_start : int
        Index of the first draw (a chunk of a larger run).

    Returns
    -------
    SimulationResult
        All draws in memory; :func:`simulator.engine.streaming.stream` summarises without them.

    Raises
    ------
    SimulationError
        If any draw's stratum loss rate reaches 1 or is not finite.
    """
    if n_draws < 1 or chunk_size < 1 or draw_start < 0:
        raise ValueError("n_draws and chunk_size must be >= 1, draw_start >= 0")
    shape = (n_draws, inputs.n_years)
    sim = SimulationResult(*(np.empty(shape) for _ in range(4)), seed=seed, draw_start=draw_start)
    for lo in range(0, n_draws, chunk_size):
        hi = min(lo + chunk_size, n_draws)
        simulate_into(inputs, seed, draw_start + lo, _rows(sim, lo, hi))
    return sim


def _rows(sim: SimulationResult, lo: int, hi: int) -> SimulationResult:
    """Views of draws ``lo:hi`` of a result."""
    return SimulationResult(
        sim.baseline[lo:hi],
        sim.project[lo:hi],
        sim.leakage[lo:hi],
        sim.baseline_loss_ha[lo:hi],
        seed=sim.seed,
        draw_start=sim.draw_start + lo,
    )
