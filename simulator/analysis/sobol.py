"""Sobol' first-order and total indices of a function of independent input groups (SALib)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr
from scipy import special
from scipy.stats import qmc

__all__ = ["sobol_indices", "latent_sample"]

log = logging.getLogger(__name__)


def sobol_indices(
    evaluate: Callable[[np.ndarray], np.ndarray],
    groups: Sequence[str],
    n_base: int,
    seed: int,
    confidence: float = 0.95,
    resamples: int = 200,
) -> xr.Dataset:
    """First-order and total Sobol indices of grouped inputs (SALib, Saltelli sampling).

    Parameters
    ----------
    evaluate : callable
        Maps uniform inputs ``u`` of shape ``(m, d)`` in (0, 1) to outputs ``(m,)``.
    groups : sequence of str, length d
        Group of each input column; indices are per group (order of first appearance).
    n_base : int
        Base sample size N (a power of 2); the cost is ``N (G + 2)`` evaluations.
    seed : int
        Seeds the scrambled Sobol' sequence and the bootstrap of the intervals (>= 1).
    confidence : float
        Level of the bootstrap confidence intervals.
    resamples : int
        Bootstrap resamples.

    Returns
    -------
    xarray.Dataset
        Dimension ``group``: ``s1, s1_conf, st, st_conf`` (``*_conf``: half-width of
        the interval, SALib's normal bootstrap interval).

    References
    ----------
    Saltelli et al. (2010), estimators of S1 (their Table 2 (b)) and ST (Jansen,
    Table 2 (f)), as implemented by SALib 1.6 ``SALib.sample.sobol.sample`` and
    ``SALib.analyze.sobol.analyze`` with ``calc_second_order=False``.
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    if n_base < 2 or n_base & (n_base - 1):
        raise ValueError(f"n_base must be a power of 2, got {n_base}")
    if seed < 1:  # SALib treats a falsy seed as "unseeded"
        raise ValueError(f"seed must be >= 1, got {seed}")
    d = len(groups)
    problem = {
        "num_vars": d,
        "names": [f"x{i}" for i in range(d)],
        "bounds": [[0.0, 1.0]] * d,
        "groups": list(groups),
    }
    u = sobol_sample.sample(problem, n_base, calc_second_order=False, seed=seed)
    y = np.asarray(evaluate(u), dtype=float)
    if y.shape != (u.shape[0],) or not np.all(np.isfinite(y)):
        raise ValueError("evaluate must return one finite value per row")
    res = sobol_analyze.analyze(
        problem,
        y,
        calc_second_order=False,
        num_resamples=resamples,
        conf_level=confidence,
        seed=seed,
    )
    names = list(dict.fromkeys(groups))
    ds = xr.Dataset(
        {
            k.lower(): ("group", np.asarray(res[k], dtype=float))
            for k in ("S1", "S1_conf", "ST", "ST_conf")
        },
        coords={"group": names},
    )
    return ds.assign_attrs(n_base=n_base, n_evaluations=int(u.shape[0]), confidence=confidence)


def latent_sample(n: int, d: int, seed: int) -> np.ndarray:
    """``n`` (a power of 2) scrambled Sobol' points mapped to standard-normal scores."""
    m = int(np.log2(n))
    if 2**m != n:
        raise ValueError(f"n must be a power of 2, got {n}")
    u = qmc.Sobol(d, scramble=True, seed=np.random.default_rng([seed, 0x53454E53])).random_base2(m)
    z = special.ndtri(u)
    if not np.all(np.isfinite(z)):  # a point exactly on 0 (probability 0 after scrambling)
        raise ValueError("a quasi-random point fell on the boundary; choose another seed")
    return z
