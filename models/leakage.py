"""Activity-shifting leakage: the fraction of avoided deforestation displaced to the belt.

Model (monitoring year t of the leakage belt)::

    lambda          ~ Beta(alpha, beta)
    log kappa       = cv z,  z ~ N(0, 1)                 error of the belt counterfactual
    belt_loss_t     ~ N(kappa belt_baseline_t + lambda avoided_t, belt_se_t)

``avoided_t`` is the deforestation avoided inside the project (ha),
``belt_baseline_t`` the loss the belt would have had without the project (itself
an estimate, uncertain by the relative SD ``cv = [leakage].belt_baseline_cv``: a
10% error in it is about as large as the whole displaced loss, so without
``kappa`` the belt data would pin ``lambda`` with false precision) and
``belt_se_t`` the map standard error of the belt's observed loss. ``lambda`` is a
fraction of *hectares*; the simulation converts the displaced hectares with the
belt's carbon stock lost on conversion, ``lambda sum_s (D^b - D^p) (C_belt -
C_post)`` (:mod:`simulator.engine.kernels`).

References
----------
VCS VMD0010 v1.2 (Estimation of emissions from activity shifting for avoided
unplanned deforestation): the leakage belt's increase in deforestation above
its baseline, converted with the belt's carbon stocks.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import xarray as xr

from models.sampling import replicate, sample
from models.settings import Leakage, Sampler

__all__ = ["FREE_PARAMETERS", "build_model", "fit", "posterior_predictive"]

FREE_PARAMETERS = ["displacement", "belt_baseline_z"]


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
        if settings.belt_baseline_cv > 0:
            z = pm.Normal("belt_baseline_z", 0.0, 1.0)
            kappa = pm.Deterministic(
                "belt_baseline_factor", pm.math.exp(settings.belt_baseline_cv * z)
            )
        else:
            kappa = 1.0
        pm.Normal(
            "belt_loss_ha",
            mu=kappa * baseline + lam * avoided,
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


def posterior_predictive(
    tree: xr.DataTree,
    years,
    avoided_ha,
    belt_loss_ha,
    belt_baseline_ha,
    belt_se_ha,
    settings: Leakage,
    seed: int,
) -> np.ndarray:
    """Replicated belt loss per year from the posterior (ha).

    The likelihood of :func:`build_model`, ``belt_rep_t ~ N(kappa belt_baseline_t + lambda
    avoided_t, belt_se_t)``, forward-sampled by :func:`pymc.sample_posterior_predictive`
    given each posterior draw of ``lambda`` and ``kappa``.

    Parameters
    ----------
    tree : DataTree
        Result of :func:`fit`.
    years, avoided_ha, belt_loss_ha, belt_baseline_ha, belt_se_ha, settings
        As given to :func:`fit`.
    seed : int
        Generator ``[seed, 0x504C]``.

    Returns
    -------
    ndarray, shape (n_samples, n_years)
        Chain-major.
    """
    model = build_model(years, avoided_ha, belt_loss_ha, belt_baseline_ha, belt_se_ha, settings)
    return replicate(model, tree, "belt_loss_ha", np.random.default_rng([seed, 0x504C]))
