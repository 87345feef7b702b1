"""How much of the projected loss rate's variance comes from map accuracy.

The rate model is a regression on the reference years with each year's loss
standard error from the accuracy assessment; :func:`map_share` is the share of
the projected log rate's variance that the map errors make, from the GLS
prediction variance (:func:`gls_prediction_variance`), and
:func:`projected_loss_se` the loss SEs with more accuracy points.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from models import deforestation
from models.map_accuracy import annual_loss_estimates
from simulator.config import RunSpec
from simulator.data import RunData

__all__ = [
    "RateDesign",
    "gls_prediction_variance",
    "map_share",
    "rate_variance",
    "projected_loss_se",
    "run_design",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateDesign:
    """The rate model linearised on the log scale (what :func:`map_share` needs).

    ``design`` (n_years, 3): 1, trend, highway of the reference years; ``x_star`` (3,):
    their mean over the crediting years; ``process_var``: posterior mean of sigma^2;
    ``log_loss_se`` (n_years,): each observed rate's SE on the log scale,
    ``se / loss`` (delta method).
    """

    design: np.ndarray
    x_star: np.ndarray
    process_var: float
    loss_ha: np.ndarray


def gls_prediction_variance(design: np.ndarray, x_star: np.ndarray, obs_var: np.ndarray) -> float:
    """Variance of a linear prediction ``x_star' beta`` by generalised least squares.

    ``Var = x*' (X' W X)^-1 x*`` with ``W`` the inverse of the observations'
    covariance (Aitken's GLS; e.g. Seber & Lee 2003, Linear Regression Analysis,
    §3.10).

    Parameters
    ----------
    design : ndarray, shape (n, p)
    x_star : ndarray, shape (p,)
    obs_var : ndarray, shape (n,) or (n, n)
        Variance of each observation (independent), or their covariance.
    """
    obs_var = np.asarray(obs_var, dtype=float)
    if obs_var.ndim == 1:
        info = design.T @ (design / obs_var[:, None])
    else:
        info = design.T @ np.linalg.solve(obs_var, design)
    return float(x_star @ np.linalg.solve(info, x_star))


def map_share(rd: RateDesign, loss_se_ha: np.ndarray) -> float:
    """Share of the projected log-rate variance due to map error, and its absolute size.

    ``w = (V(se) - V(0)) / V(se)`` with ``V`` = :func:`gls_prediction_variance` of the
    mean projected log rate when each year's observation has variance
    ``sigma^2 + (se_t / loss_t)^2`` (process noise plus map error, the rate model's
    two error terms; the weakly informative priors are ignored). ``loss_se_ha`` may
    be the loss estimates' covariance (ha^2, years x years) instead of their SEs.
    """
    full = rate_variance(rd, loss_se_ha)
    none = rate_variance(rd, np.zeros_like(loss_se_ha))
    return (full - none) / full


def rate_variance(rd: RateDesign, loss_se_ha: np.ndarray) -> float:
    """:func:`gls_prediction_variance` with the loss errors (SEs, or a covariance in ha^2)."""
    err = np.asarray(loss_se_ha, dtype=float)
    if err.ndim == 1:
        log_se = err / rd.loss_ha
        return gls_prediction_variance(rd.design, rd.x_star, rd.process_var + log_se**2)
    log_cov = err / np.outer(rd.loss_ha, rd.loss_ha)  # delta method on the log scale
    obs = rd.process_var * np.eye(rd.loss_ha.size) + log_cov
    return gls_prediction_variance(rd.design, rd.x_star, obs)


def projected_loss_se(accuracy, added: int) -> np.ndarray:
    """Each year's loss SE with ``added`` more accuracy-assessment points per stratum.

    The error matrix of each year is scaled to ``n_h + added`` points per stratum
    with the same proportions ``n_hj / n_h`` (rounded to whole points) and
    re-estimated by :func:`models.map_accuracy.annual_loss_estimates`
    (Olofsson et al. 2014; Stehman 2014).

    Parameters
    ----------
    accuracy : list of AreaEstimate
        The run's annual estimates (:attr:`simulator.data.RunData.accuracy`).
    added : int
        Sample points added to every stratum of every year.
    """
    if added < 0:
        raise ValueError(f"added must be >= 0, got {added}")
    out = []
    for est in accuracy:
        n = np.asarray(est.counts, dtype=float)
        n_h = n.sum(axis=1, keepdims=True)
        scaled = np.round(n * (n_h + added) / n_h)
        (new,) = annual_loss_estimates([0], [list(est.strata)], [est.mapped_area], [scaled])
        out.append(new.area_se[0])
    return np.array(out)


def run_design(spec: RunSpec, data: RunData, sigma: np.ndarray) -> RateDesign:
    cfg = spec.config
    years = np.asarray(data.deforestation["year"])
    crediting = np.arange(cfg.crediting.start_year, cfg.crediting.start_year + cfg.crediting.years)
    trend, highway = deforestation.projection_covariates(years, crediting, cfg.deforestation)
    design = np.column_stack(
        [
            np.ones(years.size),
            (years - years[0]).astype(float),
            deforestation.highway_covariate(years, cfg.deforestation.highway_paving),
        ]
    )
    x_star = np.array([1.0, trend.mean(), highway.mean()])
    return RateDesign(
        design, x_star, float(np.mean(sigma**2)), np.asarray(data.deforestation["loss_ha"], float)
    )
