"""Sampling and convergence diagnostics shared by every model.

Every model samples with NUTS (nutpie) through :func:`sample`; :func:`diagnose`
summarises its convergence against R-hat <= 1.01, bulk and tail ESS >= 400 and
no divergent transitions (Vehtari et al. 2021, "Rank-normalization, folding, and
localization: an improved R-hat", Bayesian Analysis 16). The gate that acts on
these figures, and its advice, is :mod:`simulator.orchestration.gates`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import warnings
from dataclasses import asdict, dataclass

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr
from threadpoolctl import threadpool_limits

from models.settings import Sampler

__all__ = [
    "RHAT_MAX",
    "ESS_MIN",
    "Diagnostics",
    "sample",
    "chain_progress",
    "diagnose",
    "flat_draws",
    "one_blas_thread",
    "replicate",
]

log = logging.getLogger(__name__)

RHAT_MAX = 1.01
ESS_MIN = 400


#: Whether :func:`sample` shows PyMC's progress table (set by :func:`chain_progress`).
_CHAIN_PROGRESS = contextvars.ContextVar("chain_progress", default=False)


@contextlib.contextmanager
def chain_progress():
    """Within this block :func:`sample` shows each chain's draws, speed and time left.

    The table is PyMC's (its nutpie progress bar, rich), which PyMC writes to
    stdout; here it goes to stderr, so stdout keeps only results. Showing it does
    not change the draws.
    """
    token = _CHAIN_PROGRESS.set(True)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _CHAIN_PROGRESS.reset(token)


def one_blas_thread():
    """BLAS and LAPACK on one thread within this block, in every process alike.

    A factorisation's last bits depend on how many threads the BLAS splits it over,
    and a Dask worker runs with one while a run in the shell has every core: a model
    whose density factors a matrix (a multivariate normal likelihood) would sample
    other draws on each. With one thread everywhere, the same seed gives the same bits.
    :func:`simulator.orchestration.pipeline.run` holds it for the whole run, so every
    factorisation after sampling (noise draws, LOO, error budget) is bit-stable too.
    """
    return threadpool_limits(limits=1, user_api="blas")


def sample(model: pm.Model, settings: Sampler, seed: int) -> xr.DataTree:
    """Draw from the posterior of ``model`` with nutpie's NUTS.

    Inside :func:`chain_progress` it shows each chain's progress on stderr.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``observed_data`` (and others PyMC adds).
    """
    with model, one_blas_thread():
        return pm.sample(
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            target_accept=settings.target_accept,
            nuts_sampler="nutpie",
            random_seed=seed,
            progressbar=_CHAIN_PROGRESS.get(),
        )


@dataclass(frozen=True)
class Diagnostics:
    """Worst-case convergence figures over a model's parameters."""

    model: str
    max_r_hat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    n_samples: int

    @property
    def passed(self) -> bool:
        return (
            self.max_r_hat <= RHAT_MAX
            and self.min_ess_bulk >= ESS_MIN
            and self.min_ess_tail >= ESS_MIN
            and self.divergences == 0
        )

    def failures(self) -> list[str]:
        out = []
        if not self.max_r_hat <= RHAT_MAX:
            out.append(f"R-hat {self.max_r_hat:.3f} > {RHAT_MAX}")
        if not self.min_ess_bulk >= ESS_MIN:
            out.append(f"bulk ESS {self.min_ess_bulk:.0f} < {ESS_MIN}")
        if not self.min_ess_tail >= ESS_MIN:
            out.append(f"tail ESS {self.min_ess_tail:.0f} < {ESS_MIN}")
        if self.divergences:
            out.append(f"{self.divergences} divergent transitions")
        return out

    def as_dict(self) -> dict:
        return asdict(self) | {"passed": self.passed}


def diagnose(name: str, dt: xr.DataTree, var_names: list[str]) -> Diagnostics:
    """Summarise convergence of the free parameters ``var_names``.

    A chain that never moves has no defined R-hat or ESS: ArviZ returns NaN (with a
    RuntimeWarning, silenced here), and NaN fails every threshold of the gate.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = az.rhat(dt, var_names=var_names)
        ess_bulk = az.ess(dt, var_names=var_names, method="bulk")
        ess_tail = az.ess(dt, var_names=var_names, method="tail")
    post = dt.posterior

    def worst(tree, fn):
        # ArviZ returns the "posterior" group itself (a DataTree node).
        group = tree["posterior"] if "posterior" in tree.children else tree
        return float(fn([fn(group[v].values) for v in var_names]))

    return Diagnostics(
        model=name,
        max_r_hat=worst(rhat, np.max),
        min_ess_bulk=worst(ess_bulk, np.min),
        min_ess_tail=worst(ess_tail, np.min),
        divergences=int(dt.sample_stats["diverging"].sum()),
        n_samples=int(post.sizes["chain"] * post.sizes["draw"]),
    )


def replicate(model: pm.Model, tree: xr.DataTree, observed: str, rng) -> np.ndarray:
    """Posterior predictive draws of ``observed``: new data, one set per posterior draw.

    ``model``'s likelihood is forward-sampled by :func:`pymc.sample_posterior_predictive`
    given each draw of its free parameters, taken from ``tree``'s posterior (the
    likelihood is written once, in the model). Returns shape ``(chains * draws, n_obs)``,
    chain-major, like :func:`flat_draws`.
    """
    post = tree.posterior.to_dataset()[[v.name for v in model.free_RVs]]
    pp = pm.sample_posterior_predictive(
        post, model, var_names=[observed], random_seed=rng, progressbar=False
    )
    rep = pp.posterior_predictive[observed].transpose("chain", "draw", ...).values
    return rep.reshape(-1, *rep.shape[2:])


def flat_draws(dt: xr.DataTree, name: str) -> np.ndarray:
    """Posterior draws of ``name`` with chain and draw stacked first (chain-major).

    Returns
    -------
    ndarray
        Shape ``(chains * draws, *event_shape)``, C-contiguous float64.
    """
    values = dt.posterior[name].transpose("chain", "draw", ...).values
    return np.ascontiguousarray(values.reshape(-1, *values.shape[2:]), dtype=np.float64)
