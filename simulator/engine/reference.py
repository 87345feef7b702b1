"""Plain vectorised-NumPy reference of :mod:`simulator.engine.kernels`.

The same equations and the same counter RNG, written for clarity rather than
speed; the kernel is tested against it and benchmarked against it.
:func:`log_hazard_paths` (the projected log hazard of each future) is also what
the report plots.
"""

from __future__ import annotations

import numpy as np

from simulator.engine import rng
from simulator.engine.hazard import log_kept, loss_fraction
from simulator.engine.kernels import PICK_SLOTS, KernelInputs, SimulationResult

__all__ = ["simulate_reference", "posterior_picks", "log_hazard_paths"]


def posterior_picks(inputs: KernelInputs, seed: int, draws: np.ndarray) -> np.ndarray:
    """The draw of each independently picked input (``kernels.PICKED``) per future, (n, 5)."""
    draws = np.asarray(draws, dtype=np.uint64)
    return np.column_stack(
        [
            rng.index_array(seed, draws, 0, slot, rng.STREAM_POSTERIOR, n)
            for slot, n in zip(PICK_SLOTS, inputs.n_posterior, strict=True)
        ]
    ).astype(np.int64)


def log_hazard_paths(inputs: KernelInputs, seed: int, draws: np.ndarray, k: np.ndarray):
    """Log hazard ``eta_t = m_k,t + u_t`` of each future over the crediting years, (n, T).

    ``u`` is the AR(1) process noise (independent years when ``phi = 0``), carried
    from the last reference year through the gap years (kernel docstring).
    """
    draws = np.asarray(draws, dtype=np.uint64)
    sigma, phi = inputs.rate_sigma[k], inputs.rate_phi[k]
    innovation = sigma * np.sqrt(1.0 - phi**2)
    gap = inputs.gap_years
    u = inputs.noise_last[k].copy()
    for g in range(gap):
        z = rng.normal_array(seed, draws, np.uint64(g), 0, rng.STREAM_RATE)
        u = np.where(phi != 0.0, phi * u + innovation * z, u)
    out = np.empty((draws.size, inputs.n_years))
    for t in range(inputs.n_years):
        z = rng.normal_array(seed, draws, np.uint64(gap + t), 0, rng.STREAM_RATE)
        u = phi * u + innovation * z
        out[:, t] = inputs.log_rate_mean[k, t] + u
    return out


def simulate_reference(
    inputs: KernelInputs, n_draws: int, seed: int, draw_start: int = 0
) -> SimulationResult:
    """NumPy implementation of :func:`simulator.engine.kernels.simulate` (no chunking)."""
    draws = np.arange(draw_start, draw_start + n_draws, dtype=np.uint64)
    picks = posterior_picks(inputs, seed, draws)
    j, k, m, ke, kc = picks.T
    n_years, n_strata = inputs.n_years, inputs.area.size
    kept = 1.0 - inputs.effectiveness[ke]  # (n,)
    if inputs.loss_target is None:
        eta = log_hazard_paths(inputs, seed, draws, k)  # (n, T)
        log_w = np.log(inputs.risk)[None, None, :]
        rate_b = loss_fraction(eta[:, :, None] + log_w)  # (n, T, S)
        rate_p = loss_fraction(
            eta[:, :, None] + log_w + log_kept(inputs.effectiveness[ke])[:, None, None]
        )

        # F_t = A prod_{u<=t} (1 - r_u): the loss in year t is F_{t-1} r_t
        def lost(rate):
            survival = np.cumprod(1.0 - rate, axis=1)
            before = np.concatenate([np.ones_like(survival[:, :1]), survival[:, :-1]], axis=1)
            return inputs.area[None, None, :] * before * rate

        lost_b, lost_p = lost(rate_b), lost(rate_p)
    else:
        # allocated: the rate depends on the remaining forest, so step through the years
        forest = np.broadcast_to(inputs.area, (n_draws, n_strata)).copy()
        forest_p = forest.copy()
        lost_b = np.empty((n_draws, n_years, n_strata))
        lost_p = np.empty_like(lost_b)
        for t in range(n_years):
            base = inputs.loss_target[k, t] / (forest @ inputs.risk)
            rate = base[:, None] * inputs.risk[None, :]
            if not np.all(rate < 1.0):
                raise ValueError("allocated loss rate >= 1")
            rate_p = -np.expm1(kept[:, None] * np.log1p(-rate))
            lost_b[:, t] = forest * rate
            lost_p[:, t] = forest_p * rate_p
            forest -= lost_b[:, t]
            forest_p -= lost_p[:, t]
    carbon = inputs.carbon_density[j]  # (n, S)
    post = inputs.post_carbon[kc][:, None]
    dc = carbon - post
    if inputs.belt_carbon is None:
        belt = carbon @ inputs.area / inputs.area.sum()
    else:
        belt = inputs.belt_carbon[m]
    dc_belt = belt - inputs.post_carbon[kc]
    eb = np.einsum("nts,ns->nt", lost_b, dc)
    ep = np.einsum("nts,ns->nt", lost_p, dc)
    lk = (inputs.leakage_fraction[m] * dc_belt)[:, None] * (lost_b - lost_p).sum(axis=2)
    lk = np.maximum(lk, 0.0)  # VMD0010 v1.2 §5.1.4.2: negative leakage is set to 0
    return SimulationResult(
        eb,
        ep,
        lk,
        lost_b.sum(axis=2),
        seed=seed,
        draw_start=draw_start,
        picks=picks,
        n_posterior=inputs.n_posterior,
    )
