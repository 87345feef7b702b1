"""Forward simulation of the crediting period (numba), one draw = one future.

For draw i, stratum s, crediting year t = 1..T, with forest F^b_s,0 = F^p_s,0 = A_s
(DESIGN §3.4)::

    u_t    = phi_k u_t-1 + sigma_k sqrt(1 - phi_k^2) z_i,t    process noise of the log hazard,
             from u = noise_last_k in the last reference year through the gap years
             (phi_k = 0: u_t = sigma_k z_i,t, independent years)
    eta_t  = m_k,t + u_t                                    log hazard, z from the counter RNG
    r^b_st = loss_fraction(eta_t + log w_s)                  = 1 - exp(-exp(.)), in [0, 1)
    r^p_st = loss_fraction(eta_t + log w_s + log(1 - e_k))   the project scales the hazard
             (allocated baseline: r^b_st = L_k,t w_s / sum_s F^b_s,t-1 w_s, so that
             sum_s D^b_st = L_k,t, and r^p_st = 1 - (1 - r^b_st)^(1 - e_k))
    D^b_st = F^b_s,t-1 r^b_st ;  F^b_st = F^b_s,t-1 - D^b_st
    D^p_st = F^p_s,t-1 r^p_st ;  F^p_st = F^p_s,t-1 - D^p_st  (project forest tracked)
    dC_s   = C_j,s - Cpost_k
    E^b_t  = sum_s D^b_st dC_s ;  E^p_t = sum_s D^p_st dC_s
    L_t    = max(0, lambda_l sum_s (D^b_st - D^p_st) dC_belt)  displaced ha x belt stock lost
    dC_belt = Cbelt_l - Cpost_k   (Cbelt: the belt's carbon density; by default the
             area-weighted mean density of the project's strata, draw j: the same forests)

where j, k, l are the posterior draws of the biomass, rate and leakage models
picked for draw i by the counter RNG, and e and Cpost come from their own
samples, picked independently (the models, and within the deforestation model
the rate, effectiveness and post-conversion carbon, are independent a
posteriori, so independent picks form joint posterior draws). ``loss_fraction`` is
:func:`simulator.engine.hazard.loss_fraction`. Emissions are committed in the year of
deforestation (VM0007 convention). Leakage follows VMD0010 v1.2 §5.1.4.2 (Eq. 1,
ex post: the belt's project-case emissions less its baseline emissions): the
displaced deforestation (ha) is converted to emissions with the carbon stock of
the forest it moves to (the leakage belt), not with the project's, and a negative
leakage (a project with ``e < 0``) is set to 0 as that clause requires.

:func:`_simulate` is the private kernel (loops and arithmetic into preallocated
outputs, status flags instead of exceptions); :func:`simulate` validates inputs,
allocates, splits the draws into chunks and turns flags into errors. Because
every random number is a function of (seed, draw, year, stratum, stream),
results are bit-identical for any chunk size and thread count
(``NUMBA_NUM_THREADS``). Noise year slots count from the first year after the
reference period: gap year g is slot g, crediting year t slot ``gap_years + t``.
Each future also records which posterior draw of each model it used
(``SimulationResult.picks``), for the posterior-sample part of the Monte Carlo
error (:mod:`simulator.engine.streaming`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from simulator.engine import rng
from simulator.engine.hazard import log_kept, loss_fraction
from simulator.errors import SimulationError

__all__ = [
    "KernelInputs",
    "SimulationResult",
    "simulate",
    "simulate_into",
    "simulate_aligned",
    "MODEL_STREAMS",
    "PICKED",
    "PICK_SLOTS",
]

#: Sub-stream (``stratum`` slot of the counter) of each model's posterior pick.
MODEL_STREAMS = rng.MODEL_STREAMS
#: Inputs picked independently per future, in the order of ``SimulationResult.picks``.
PICKED = ("carbon_density", "log_rate_mean", "leakage_fraction", "effectiveness", "post_carbon")
#: The counter slot of each input of :data:`PICKED`.
PICK_SLOTS = (
    rng.SLOT_BIOMASS,
    rng.SLOT_DEFORESTATION,
    rng.SLOT_LEAKAGE,
    rng.SLOT_EFFECTIVENESS,
    rng.SLOT_POST_CONVERSION,
)


@dataclass(frozen=True)
class KernelInputs:
    """Posterior draws and project constants, as contiguous float64 arrays.

    Attributes
    ----------
    carbon_density : (n_biomass, S)
        Stratum mean carbon density, tCO2e/ha.
    log_rate_mean : (n_deforestation, T)
        Mean log hazard ``eta`` of each crediting year (the annual loss fraction of
        a stratum of relative risk 1 is ``1 - exp(-exp(eta))``,
        :func:`simulator.engine.hazard.loss_fraction`; for small rates ``eta ~ log rate``).
    rate_sigma : (n_deforestation,)
        Marginal SD of the process noise of the log hazard.
    effectiveness : (n_effectiveness,)
        Fraction of the baseline hazard the project prevents (may be <= 0; < 1).
        Its own sample, picked independently of the rate draw: a posteriori it is
        independent of the rate model's parameters (no shared likelihood term, independent
        priors), so a large i.i.d. prior sample may stand in for it when no monitoring
        data update it (:func:`simulator.inference.inputs.kernel_inputs`).
    post_carbon : (n_post_carbon,)
        Carbon remaining after conversion, tCO2e/ha; its own sample, as ``effectiveness``.
    leakage_fraction : (n_leakage,)
        Fraction of the deforestation the project prevents that is displaced to the
        leakage belt (activity shifting), in hectares.
    area : (S,)
        Forest area per stratum at the start, ha.
    risk : (S,)
        Relative deforestation risk, area-weighted mean 1 (positive).
    loss_target : (n_deforestation, T), optional
        ``allocated`` baseline: the project's baseline loss (ha/yr) per draw and
        year, spread over strata by risk-weighted remaining forest; when given,
        ``log_rate_mean`` and ``rate_sigma`` are not used.
    rate_phi : (n_deforestation,), optional
        AR(1) coefficient of the process noise (default 0: independent years).
    noise_last : (n_deforestation,), optional
        Process noise ``u`` of the last reference year (default 0); with
        ``rate_phi`` it starts the noise path of the gap years.
    gap_years : int
        Years between the last reference year and the first crediting year
        (exclusive), through which the noise is carried.
    belt_carbon : (n_leakage,), optional
        Carbon density of the leakage belt's forest, tCO2e/ha; by default the
        area-weighted mean of the project strata's (biomass draw ``j``).
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
    rate_phi: np.ndarray | None = None
    noise_last: np.ndarray | None = None
    gap_years: int = 0
    belt_carbon: np.ndarray | None = None

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
        for name in ("rate_phi", "noise_last"):
            value = getattr(self, name)
            value = np.zeros(n_d) if value is None else value
            object.__setattr__(self, name, np.ascontiguousarray(value, dtype=np.float64))
        for name in ("rate_sigma", "rate_phi", "noise_last"):
            value = getattr(self, name)
            if value.shape != (n_d,):
                raise ValueError(f"{name} must have shape ({n_d},) like log_rate_mean's draws")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{name} has non-finite values")
        if not np.all(self.effectiveness < 1.0):
            raise ValueError("effectiveness must be < 1 (a project cannot prevent more than all)")
        if not np.all(np.abs(self.rate_phi) < 1.0):
            raise ValueError("rate_phi must be in (-1, 1)")
        if np.any(self.rate_sigma < 0):
            raise ValueError("rate_sigma must be >= 0")
        n_strata = self.area.shape[0]
        if self.carbon_density.shape[1] != n_strata or self.risk.shape != (n_strata,):
            raise ValueError("carbon_density, area and risk must have the same strata")
        if not np.all(self.risk > 0):
            raise ValueError("risk must be positive")
        if int(self.gap_years) != self.gap_years or self.gap_years < 0:
            raise ValueError(f"gap_years must be a non-negative integer, got {self.gap_years}")
        object.__setattr__(self, "gap_years", int(self.gap_years))
        if self.belt_carbon is not None:
            belt = np.ascontiguousarray(self.belt_carbon, dtype=np.float64)
            if belt.shape != self.leakage_fraction.shape or not np.all(np.isfinite(belt)):
                raise ValueError(
                    f"belt_carbon must be finite with shape {self.leakage_fraction.shape}"
                )
            object.__setattr__(self, "belt_carbon", belt)
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

    @property
    def n_posterior(self) -> tuple[int, ...]:
        """Sample sizes of the independently picked inputs (:data:`PICKED`)."""
        return tuple(getattr(self, name).shape[0] for name in PICKED)


@dataclass(frozen=True)
class SimulationResult:
    """Per draw and crediting year (arrays of shape ``(n_draws, T)``), tCO2e or ha.

    ``picks`` (``(n_draws, 5)`` int64, optional) holds the draw of each
    independently picked input (:data:`PICKED`: biomass, rate, leakage,
    effectiveness, post-conversion carbon) each future used, ``n_posterior`` their
    sample sizes.
    """

    baseline: np.ndarray
    project: np.ndarray
    leakage: np.ndarray
    baseline_loss_ha: np.ndarray
    seed: int
    draw_start: int
    picks: np.ndarray | None = None
    n_posterior: tuple[int, ...] | None = None


@numba.njit(parallel=True, cache=True)
def _simulate(
    seed,
    draw_start,
    carbon_density,
    log_rate_mean,
    rate_sigma,
    rate_phi,
    noise_last,
    gap_years,
    loss_target,
    allocated,
    effectiveness,
    post_carbon,
    leakage_fraction,
    belt_carbon,
    belt_given,
    area,
    risk,
    forest,
    forest_p,
    dc,
    eb,
    ep,
    lk,
    loss,
    picks,
    bad,
    aligned,
):
    # One draw per iteration, years in order (the forest carries over), strata innermost.
    # ``forest``, ``forest_p`` and ``dc`` are per-chunk scratch rows: nothing is
    # allocated per draw.
    n, n_years = eb.shape
    n_strata = area.shape[0]
    n_b = carbon_density.shape[0]
    n_d = log_rate_mean.shape[0]
    n_l = leakage_fraction.shape[0]
    n_e = effectiveness.shape[0]
    n_c = post_carbon.shape[0]
    total_area = 0.0
    log_risk = np.empty(n_strata)  # log w_s, once per call (not once per draw and year)
    for s in range(n_strata):
        total_area += area[s]
        log_risk[s] = np.log(risk[s])
    for i in numba.prange(n):
        key = rng.draw_key(seed, draw_start + np.uint64(i))
        if aligned:  # future i uses row i of every input
            j = k = m = ke = kc = np.int64(i)
        else:
            j = np.int64(rng.index_keyed(key, 0, rng.SLOT_BIOMASS, rng.STREAM_POSTERIOR, n_b))
            k = np.int64(rng.index_keyed(key, 0, rng.SLOT_DEFORESTATION, rng.STREAM_POSTERIOR, n_d))
            m = np.int64(rng.index_keyed(key, 0, rng.SLOT_LEAKAGE, rng.STREAM_POSTERIOR, n_l))
            ke = np.int64(
                rng.index_keyed(key, 0, rng.SLOT_EFFECTIVENESS, rng.STREAM_POSTERIOR, n_e)
            )
            kc = np.int64(
                rng.index_keyed(key, 0, rng.SLOT_POST_CONVERSION, rng.STREAM_POSTERIOR, n_c)
            )
        picks[i, 0] = j
        picks[i, 1] = k
        picks[i, 2] = m
        picks[i, 3] = ke
        picks[i, 4] = kc
        kept = 1.0 - effectiveness[ke]
        offset = log_kept(effectiveness[ke])
        lam = leakage_fraction[m]
        mu = log_rate_mean[k]
        sigma = rate_sigma[k]
        phi = rate_phi[k]
        innovation = sigma * np.sqrt(1.0 - phi * phi)
        f = forest[i]
        fp = forest_p[i]
        c = dc[i]
        belt = 0.0
        for s in range(n_strata):
            f[s] = area[s]
            fp[s] = area[s]
            c[s] = carbon_density[j, s] - post_carbon[kc]
            belt += area[s] * carbon_density[j, s]
        if belt_given:
            belt = belt_carbon[m]
        else:
            belt = belt / total_area
        dc_belt = belt - post_carbon[kc]
        u = noise_last[k]
        if phi != 0.0:
            for g in range(gap_years):
                u = phi * u + innovation * rng.normal_keyed(key, g, 0, rng.STREAM_RATE)
        flag = 0
        for t in range(n_years):
            if allocated:
                # the allocated loss spread over strata by risk-weighted remaining forest
                weighted = 0.0
                for s in range(n_strata):
                    weighted += f[s] * risk[s]
                base = loss_target[k, t] / weighted
            else:
                u = phi * u + innovation * rng.normal_keyed(key, gap_years + t, 0, rng.STREAM_RATE)
                eta = mu[t] + u
            eb_t = 0.0
            ep_t = 0.0
            loss_t = 0.0
            displaced = 0.0
            for s in range(n_strata):
                if allocated:
                    rate = base * risk[s]
                    if not rate < 1.0:  # also catches NaN
                        flag = 1
                    rate_p = -np.expm1(kept * np.log1p(-rate))
                else:
                    log_w = log_risk[s]
                    rate = loss_fraction(eta + log_w)
                    rate_p = loss_fraction(eta + log_w + offset)
                    if not (rate <= 1.0 and rate_p <= 1.0):  # NaN only
                        flag = 1
                lost = f[s] * rate
                lost_p = fp[s] * rate_p
                f[s] -= lost
                fp[s] -= lost_p
                eb_t += lost * c[s]
                ep_t += lost_p * c[s]
                loss_t += lost
                displaced += lost - lost_p
            eb[i, t] = eb_t
            ep[i, t] = ep_t
            loss[i, t] = loss_t
            # VMD0010 v1.2 §5.1.4.2: leakage < 0 is set to 0 ("to prevent positive leakage")
            lk[i, t] = max(lam * displaced * dc_belt, 0.0)
        bad[i] = flag


def simulate_into(
    inputs: KernelInputs,
    seed: int,
    draw_start: int,
    out: SimulationResult,
    aligned: bool = False,
):
    """Simulate ``len(out.baseline)`` draws from ``draw_start`` into preallocated arrays.

    ``out`` holds ``(n, T)`` arrays (its ``seed``/``draw_start`` are ignored; its
    ``picks``, when given, receive the posterior picks); this is the
    allocation-free entry point of :func:`simulate` and of the streaming summaries.
    ``aligned``: future i uses row i of every picked input instead of a random pick
    (:func:`simulate_aligned`).

    Raises
    ------
    SimulationError
        If any draw's loss rate is not finite, or an allocated loss reaches the
        remaining forest of a stratum.
    """
    if not 0 <= seed < 2**63 or draw_start < 0:
        raise ValueError(
            f"seed must be in [0, 2**63) and draw_start >= 0, got {seed}, {draw_start}"
        )
    n = out.baseline.shape[0]
    scratch = (n, inputs.area.shape[0])
    forest, forest_p, dc = np.empty(scratch), np.empty(scratch), np.empty(scratch)
    picks = out.picks if out.picks is not None else np.empty((n, len(PICKED)), dtype=np.int64)
    bad = np.zeros(n, dtype=np.int8)
    allocated = inputs.loss_target is not None
    belt_given = inputs.belt_carbon is not None
    _simulate(
        np.uint64(seed),
        np.uint64(draw_start),
        inputs.carbon_density,
        inputs.log_rate_mean,
        inputs.rate_sigma,
        inputs.rate_phi,
        inputs.noise_last,
        inputs.gap_years,
        inputs.loss_target if allocated else np.zeros((1, 1)),
        allocated,
        inputs.effectiveness,
        inputs.post_carbon,
        inputs.leakage_fraction,
        inputs.belt_carbon if belt_given else np.zeros(1),
        belt_given,
        inputs.area,
        inputs.risk,
        forest,
        forest_p,
        dc,
        out.baseline,
        out.project,
        out.leakage,
        out.baseline_loss_ha,
        picks,
        bad,
        aligned,
    )
    n_bad = int(bad.sum())
    if n_bad:
        first = draw_start + int(np.argmax(bad))
        raise SimulationError(
            f"{n_bad} of {n} draws have an annual loss rate >= 100% or not finite in some "
            f"stratum (first: draw {first}); check the allocated loss and the relative risks"
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
        If any draw's loss rate is not finite, or an allocated loss reaches the
        remaining forest of a stratum.
    """
    if n_draws < 1 or chunk_size < 1 or draw_start < 0:
        raise ValueError("n_draws and chunk_size must be >= 1, draw_start >= 0")
    shape = (n_draws, inputs.n_years)
    sim = SimulationResult(
        *(np.empty(shape) for _ in range(4)),
        seed=seed,
        draw_start=draw_start,
        picks=np.empty((n_draws, len(PICKED)), dtype=np.int64),
        n_posterior=inputs.n_posterior,
    )
    for lo in range(0, n_draws, chunk_size):
        hi = min(lo + chunk_size, n_draws)
        simulate_into(inputs, seed, draw_start + lo, _rows(sim, lo, hi))
    return sim


def simulate_aligned(inputs: KernelInputs, seed: int = 0) -> SimulationResult:
    """Evaluate each row of ``inputs`` once: future i uses row i of every picked input.

    Every input of :data:`PICKED` (with ``rate_sigma``, ``rate_phi``, ``noise_last``,
    ``loss_target`` and ``belt_carbon`` when given) must have the same number of rows
    n. Future i is then bit for bit ``simulate(row_i, 1, seed, draw_start=i)`` with
    ``row_i`` the one-row input made of row i (a one-row input's pick is that row), so
    a batch of deterministic evaluations (``rate_sigma = 0``) runs as one parallel
    kernel call instead of n calls.

    Raises
    ------
    ValueError
        If the inputs' rows differ in number.
    SimulationError
        As :func:`simulate`.
    """
    n = inputs.carbon_density.shape[0]
    if set(inputs.n_posterior) != {n}:
        raise ValueError(
            f"aligned inputs need the same rows in {', '.join(PICKED)}; got {inputs.n_posterior}"
        )
    shape = (n, inputs.n_years)
    sim = SimulationResult(
        *(np.empty(shape) for _ in range(4)),
        seed=seed,
        draw_start=0,
        n_posterior=inputs.n_posterior,
    )
    simulate_into(inputs, seed, 0, sim, aligned=True)
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
        picks=None if sim.picks is None else sim.picks[lo:hi],
        n_posterior=sim.n_posterior,
    )
