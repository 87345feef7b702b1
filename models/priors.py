"""The marginal prior of every gated parameter, and how far the data moved it.

Each model module writes its priors in PyMC; this module states the same priors as
frozen :mod:`scipy.stats` distributions (where a parameter's marginal prior has a
closed form) and as marginal prior standard deviations, so that the report can draw
a prior over its posterior and compute the posterior contraction

    contraction = 1 - Var_post / Var_prior

(Betancourt 2018, "Calibrating model-based inferences and decisions",
arXiv:1803.08393, §2.2; Schad, Betancourt & Vasishth 2021, Psychological Methods
26(1), "Toward a principled Bayesian workflow in cognitive science", §3.5): near 1
the data determined the parameter, near 0 its posterior is its prior.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from models import biomass, deforestation

__all__ = ["contraction", "marginal_prior", "prior_sd"]


def marginal_prior(cfg, model: str, var: str):
    """The frozen scipy prior of ``var`` of ``model``, or ``None`` without a closed form.

    ``cfg`` is the run's configuration (:class:`simulator.config.RunConfig`); the
    priors are those of :func:`models.biomass.build_model`,
    :func:`models.deforestation.build_model` and :func:`models.leakage.build_model`.
    A stratum's log-mean ``mu_stratum`` (a normal whose SD has a half-normal prior)
    and the carbon stocks of a stock model (one prior per stratum and pool) have none.
    """
    b, d, lk = cfg.biomass, cfg.deforestation, cfg.leakage
    bh, dh = biomass.HYPERPRIORS, deforestation.HYPERPRIORS
    single = len(cfg.project.strata) == 1
    rs = b.root_shoot
    table = {
        ("biomass", "mu_0"): lambda: stats.norm(*bh["mu_0"]),
        ("biomass", "sigma_stratum"): lambda: stats.halfnorm(scale=bh["sigma_stratum"]),
        ("biomass", "tau"): lambda: stats.halfnorm(scale=bh["tau"]),
        ("biomass", "carbon_fraction"): lambda: stats.norm(
            b.carbon_fraction.mean, b.carbon_fraction.sd
        ),
        ("biomass", "root_shoot"): lambda: stats.truncnorm(
            (rs.lower - rs.mean) / rs.sd, (rs.upper - rs.mean) / rs.sd, loc=rs.mean, scale=rs.sd
        ),
        ("deforestation", "a"): lambda: stats.norm(*dh["a"]),
        ("deforestation", "b"): lambda: stats.norm(*dh["b"]),
        ("deforestation", "c"): lambda: stats.norm(*dh["c"]),
        ("deforestation", "sigma"): lambda: stats.halfnorm(scale=dh["sigma"]),
        # (phi + 1) / 2 ~ Beta: phi on (-1, 1)
        ("deforestation", "phi"): lambda: stats.beta(*dh["phi"], loc=-1.0, scale=2.0),
        ("deforestation", "effectiveness"): lambda: deforestation.effectiveness_prior(
            d.effectiveness
        ),
        ("deforestation", "post_conversion_tco2e_ha"): lambda: deforestation.gamma_prior(
            d.post_conversion_tco2e_ha.mean, d.post_conversion_tco2e_ha.sd
        ),
        ("leakage", "displacement"): lambda: stats.beta(
            lk.displacement.alpha, lk.displacement.beta
        ),
        ("leakage", "belt_baseline_z"): lambda: stats.norm(0.0, 1.0),
    }
    if d.allocation is not None:
        j, share = d.allocation.jurisdiction_loss_ha, d.allocation.risk_share
        table[("deforestation", "jurisdiction_loss_ha")] = lambda: deforestation.gamma_prior(
            j.mean, j.sd
        )
        table[("deforestation", "risk_share")] = lambda: stats.beta(share.alpha, share.beta)
    if single:  # nothing to pool: the one stratum's log-mean takes mu_0's prior
        table[("biomass", "mu_stratum")] = table[("biomass", "mu_0")]
    make = table.get((model, var))
    return None if make is None else make()


def prior_sd(cfg, model: str, var: str) -> float | None:
    """Marginal prior SD of ``var`` (each element of a vector parameter has the same).

    ``mu_stratum`` of several strata is ``Normal(mu_0, sigma_stratum)`` with
    ``mu_0 ~ Normal(m, s)`` and ``sigma_stratum ~ HalfNormal(h)``: its marginal
    variance is ``s^2 + E[sigma_stratum^2] = s^2 + h^2`` (law of total variance).
    ``None`` where the prior is per element (carbon stocks) or unknown.
    """
    dist = marginal_prior(cfg, model, var)
    if dist is not None:
        return float(dist.std())
    if (model, var) == ("biomass", "mu_stratum"):
        _, s = biomass.HYPERPRIORS["mu_0"]
        return float(np.hypot(s, biomass.HYPERPRIORS["sigma_stratum"]))
    return None


def contraction(posterior_sd, prior_sd_value: float | None):
    """``1 - (posterior SD / prior SD)^2``; ``nan`` without a prior SD."""
    if prior_sd_value is None:
        return np.full(np.shape(posterior_sd), np.nan)
    return 1.0 - (np.asarray(posterior_sd, dtype=float) / prior_sd_value) ** 2
