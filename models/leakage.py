"""Activity-shifting leakage: the fraction of avoided deforestation displaced.

Model (monitoring year t of the leakage belt)::

    lambda          ~ Beta(alpha, beta)
    belt_loss_t     ~ N(belt_baseline_t + lambda * avoided_t, belt_se_t)

``avoided_t`` is the deforestation avoided inside the project, ``belt_baseline_t``
the loss the belt would have had without the project and ``belt_se_t`` the map
standard error of the belt's observed loss. Leakage emissions in the
simulation are ``lambda * (E_baseline - E_project)``.

References
----------
VCS VMD0010 (Estimation of emissions from activity shifting for avoided
unplanned deforestation), leakage-belt monitoring.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import xarray as xr

from models.sampling import sample
from models.settings import Leakage, Sampler

__all__ = ["FREE_PARAMETERS", "build_model", "fit"]

FREE_PARAMETERS = ["displacement"]


def build_model(
    years, avoided_ha, belt_loss_ha, belt_baseline_ha, belt_se_ha, settings: Leakage
) -> pm.Model:
    """PyMC model of the displacement fraction from belt monitoring."""
    prior = settings.displacement
    with pm.Model(coords={"year": np.asarray(years)}) as model:
        avoided = pm.Data("avoided_ha", np.asarray(avoided_ha, dtype=float), dims="year")
        baseline = pm.Data(
            "belt_baseline_ha", np.asarray(belt_baseline_ha, dtype=float), dims="year"
        )
        lam = pm.Beta("displacement", prior.alpha, prior.beta)
        pm.Normal(
            "belt_loss_ha",
            mu=baseline + lam * avoided,
            sigma=np.asarray(belt_se_ha, dtype=float),
            observed=np.asarray(belt_loss_ha, dtype=float),
            dims="year",
        )
    return model


def fit(
    years,
    avoided_ha,
    belt_loss_ha,
    belt_baseline_ha,
    belt_se_ha,
    settings: Leakage,
    sampler: Sampler,
    seed: int,
) -> xr.DataTree:
    """Sample the posterior of :func:`build_model`."""
    model = build_model(years, avoided_ha, belt_loss_ha, belt_baseline_ha, belt_se_ha, settings)
    return sample(model, sampler, seed)
