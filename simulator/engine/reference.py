"""Plain vectorised-NumPy reference of :mod:`simulator.engine.kernels`.

The same equations and the same counter RNG, written for clarity rather than
speed; the kernel is tested against it and benchmarked against it.
"""

from __future__ import annotations

import numpy as np

from simulator.engine import rng
from simulator.engine.kernels import KernelInputs, SimulationResult

__all__ = ["simulate_reference"]


def simulate_reference(
    inputs: KernelInputs, n_draws: int, seed: int, draw_start: int = 0
) -> SimulationResult:
    """NumPy implementation of :func:`simulator.engine.kernels.simulate` (no chunking)."""
    draws = np.arange(draw_start, draw_start + n_draws, dtype=np.uint64)
    n_years = inputs.n_years

    def pick(slot, n):
        return rng.index_array(seed, draws, 0, slot, rng.STREAM_POSTERIOR, n)

    j = pick(rng.SLOT_BIOMASS, inputs.carbon_density.shape[0])
    k = pick(rng.SLOT_DEFORESTATION, inputs.log_rate_mean.shape[0])
    m = pick(rng.SLOT_LEAKAGE, inputs.leakage_fraction.shape[0])
    if inputs.loss_target is None:
        years = np.arange(n_years, dtype=np.uint64)
        z = rng.normal_array(seed, draws[:, None], years[None, :], 0, rng.STREAM_RATE)  # (n, T)
        base_rate = np.exp(inputs.log_rate_mean[k] + inputs.rate_sigma[k][:, None] * z)
        rate = base_rate[:, :, None] * inputs.risk[None, None, :]  # (n, T, S)
        if not np.all(rate < 1.0):
            raise ValueError("loss rate >= 1")
        # F_t = A * prod_{u<=t}(1 - r_u): loss in year t = F_{t-1} * r_t
        survival = np.cumprod(1.0 - rate, axis=1)
        before = np.concatenate([np.ones_like(survival[:, :1]), survival[:, :-1]], axis=1)
        lost_b = inputs.area[None, None, :] * before * rate  # (n, T, S)
    else:
        # allocated: the rate depends on the remaining forest, so step through the years
        forest = np.broadcast_to(inputs.area, (n_draws, inputs.area.size)).copy()
        lost_b = np.empty((n_draws, n_years, inputs.area.size))
        for t in range(n_years):
            base = inputs.loss_target[k, t] / (forest @ inputs.risk)
            lost_b[:, t] = forest * base[:, None] * inputs.risk[None, :]
            forest -= lost_b[:, t]
    dc = inputs.carbon_density[j] - inputs.post_carbon[k][:, None]  # (n, S)
    eb = np.einsum("nts,ns->nt", lost_b, dc)
    ep = eb * (1.0 - inputs.effectiveness[k])[:, None]
    lk = inputs.leakage_fraction[m][:, None] * (eb - ep)
    return SimulationResult(eb, ep, lk, lost_b.sum(axis=2), seed=seed, draw_start=draw_start)
