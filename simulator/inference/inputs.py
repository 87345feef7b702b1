"""Posterior draws flattened into the arrays the kernel indexes.

The seam between :mod:`models` (PyMC DataTrees) and :mod:`simulator.engine`
(numba): :func:`kernel_inputs` builds :class:`~simulator.engine.kernels.KernelInputs`.
"""

from __future__ import annotations

import numpy as np

from models import deforestation
from models.sampling import flat_draws
from simulator.config import RunSpec
from simulator.data import RunData
from simulator.engine.kernels import KernelInputs
from simulator.inference.fit import MODELS

__all__ = [
    "kernel_inputs",
    "relative_risk",
    "crediting_years",
    "PRIOR_DRAWS",
    "scenario_draws",
]


def relative_risk(spec: RunSpec) -> np.ndarray:
    """Strata's relative risks rescaled to an area-weighted mean of 1."""
    strata = spec.config.project.strata
    area = np.array([s.area_ha for s in strata])
    risk = np.array([s.relative_risk for s in strata])
    return risk * area.sum() / (risk * area).sum()


def crediting_years(spec: RunSpec) -> np.ndarray:
    c = spec.config.crediting
    return np.arange(c.start_year, c.start_year + c.years)


#: Size of the i.i.d. prior samples that stand in for prior-only scenario parameters.
PRIOR_DRAWS = 2**20


def scenario_draws(spec: RunSpec, data: RunData, defo) -> tuple[np.ndarray, np.ndarray]:
    """Draws of the effectiveness ``e`` and the post-conversion carbon ``C_post``.

    Neither enters a likelihood unless project monitoring is given (then ``e`` does),
    so their posterior is their prior, and a posteriori both are independent of the
    rate model's parameters (the kernel picks them independently). An MCMC sample of
    a prior-only parameter only adds Monte Carlo error (its few thousand draws are
    reused by a million futures): each such parameter is given :data:`PRIOR_DRAWS`
    i.i.d. draws of its prior instead (NumPy, seeded by the run seed). With monitoring
    data, ``e`` is the MCMC posterior sample.
    """
    cfg = spec.config
    gen = np.random.default_rng([cfg.simulation.seed, 0x5343454E])
    post = cfg.deforestation.post_conversion_tco2e_ha
    post_carbon = deforestation.gamma_prior(post.mean, post.sd).rvs(PRIOR_DRAWS, random_state=gen)
    if data.project_monitoring is not None:
        return flat_draws(defo, "effectiveness"), post_carbon
    prior = deforestation.effectiveness_prior(cfg.deforestation.effectiveness)
    e = prior.rvs(PRIOR_DRAWS, random_state=gen)
    return np.minimum(e, np.nextafter(1.0, 0.0)), post_carbon


def kernel_inputs(spec: RunSpec, data: RunData, posteriors) -> KernelInputs:
    """Flatten posterior draws into :class:`~simulator.engine.kernels.KernelInputs`.

    The process noise is carried from the last reference year through the years
    before the crediting start (:func:`models.deforestation.gap_years`).
    """
    cfg = spec.config
    bio, defo, leak = (posteriors.trees[m] for m in MODELS)
    reference = data.deforestation["year"]
    trend, highway = deforestation.projection_covariates(
        reference, crediting_years(spec), cfg.deforestation
    )
    a, b, c = (flat_draws(defo, v)[:, None] for v in ("a", "b", "c"))
    loss_target = None
    if cfg.deforestation.baseline == "allocated":
        allocated = flat_draws(defo, "jurisdiction_loss_ha") * flat_draws(defo, "risk_share")
        loss_target = np.repeat(allocated[:, None], cfg.crediting.years, axis=1)
    ar1 = "phi" in defo.posterior
    effectiveness, post_carbon = scenario_draws(spec, data, defo)
    return KernelInputs(
        carbon_density=flat_draws(bio, "carbon_tco2e_ha"),
        log_rate_mean=deforestation.log_hazard_mean(a, b, c, trend[None, :], highway[None, :]),
        rate_sigma=flat_draws(defo, "sigma"),
        effectiveness=effectiveness,
        post_carbon=post_carbon,
        leakage_fraction=flat_draws(leak, "displacement"),
        area=np.array([s.area_ha for s in cfg.project.strata]),
        risk=relative_risk(spec),
        loss_target=loss_target,
        rate_phi=flat_draws(defo, "phi") if ar1 else None,
        noise_last=flat_draws(defo, "noise")[:, -1] if ar1 else None,
        gap_years=deforestation.gap_years(reference, cfg.crediting.start_year),
    )
