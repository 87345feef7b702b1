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

__all__ = ["kernel_inputs", "relative_risk", "crediting_years"]


def relative_risk(spec: RunSpec) -> np.ndarray:
    """Strata's relative risks rescaled to an area-weighted mean of 1."""
    strata = spec.config.project.strata
    area = np.array([s.area_ha for s in strata])
    risk = np.array([s.relative_risk for s in strata])
    return risk * area.sum() / (risk * area).sum()


def crediting_years(spec: RunSpec) -> np.ndarray:
    c = spec.config.crediting
    return np.arange(c.start_year, c.start_year + c.years)


def kernel_inputs(spec: RunSpec, data: RunData, posteriors) -> KernelInputs:
    """Flatten posterior draws into :class:`~simulator.engine.kernels.KernelInputs`."""
    cfg = spec.config
    bio, defo, leak = (posteriors.trees[m] for m in MODELS)
    trend, highway = deforestation.projection_covariates(
        data.deforestation["year"], crediting_years(spec), cfg.deforestation
    )
    a, b, c = (flat_draws(defo, v)[:, None] for v in ("a", "b", "c"))
    loss_target = None
    if cfg.deforestation.baseline == "allocated":
        allocated = flat_draws(defo, "jurisdiction_loss_ha") * flat_draws(defo, "risk_share")
        loss_target = np.repeat(allocated[:, None], cfg.crediting.years, axis=1)
    return KernelInputs(
        carbon_density=flat_draws(bio, "carbon_tco2e_ha"),
        log_rate_mean=deforestation.log_rate_mean(a, b, c, trend[None, :], highway[None, :]),
        rate_sigma=flat_draws(defo, "sigma"),
        effectiveness=flat_draws(defo, "effectiveness"),
        post_carbon=flat_draws(defo, "post_conversion_tco2e_ha"),
        leakage_fraction=flat_draws(leak, "displacement"),
        area=np.array([s.area_ha for s in cfg.project.strata]),
        risk=relative_risk(spec),
        loss_target=loss_target,
    )
