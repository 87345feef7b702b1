"""Sampling-effort planning: what more field plots or accuracy points would buy.

More field plots shrink each stratum's mean-AGB posterior: every plot-level
term of its variance (between-plot variance and the per-plot measurement
errors, independent between plots) scales as ``1/n`` (stratified sampling,
Cochran 1977 Eq. 5.3 without finite-population correction; the same form as
:func:`models.inventory.error_budget`), while the carbon fraction, root:shoot and
every other group stay. With ``k`` more plots the stratum's latent score is
multiplied by ``sqrt(n / (n + k))`` (on the log scale of a log-normal posterior,
its SD). More accuracy-assessment points change each year's loss SE, recomputed
by the stratified estimator (:func:`models.map_accuracy.annual_loss_estimates`)
on the error matrix scaled to the larger sample with the same proportions
(rounded to whole points); the map share of the projected log-rate variance is
then recomputed by :func:`gls_prediction_variance`. The factor is the stratified
estimator's even when the rate model takes the series pooled across years
(:func:`models.map_accuracy.pooled_loss_estimates`): scaling the counts with the
same proportions makes their year-to-year differences look more real and the pooling
weaker, so the pooled variance of a year can grow with more points, an artefact of
that projection; the stratified estimator's ratio is the monotone approximation.

References: see :mod:`simulator.analysis.sensitivity`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.accounting import account, net_emission_reductions
from simulator.accounting.standards import Standard, relative_half_width
from simulator.analysis.rate_design import RateDesign, projected_loss_se, rate_variance
from simulator.analysis.response import ResponseModel

__all__ = ["Lever", "plot_lever", "accuracy_lever", "smallest_addition", "planning"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lever:
    """A way to add sampling effort: its name, unit, and the model factors it sets.

    ``factors(k)`` returns the keyword arguments of :meth:`ResponseModel.simulate`
    for ``k`` added units; ``k = None`` means unlimited effort (the limit).
    """

    name: str
    unit: str
    factors: Callable[[int | None], dict]


def plot_lever(n_plots: np.ndarray) -> Lever:
    """``k`` more field plots in every stratum: variance factor ``n_s / (n_s + k)``."""
    n = np.asarray(n_plots, dtype=float)

    def factors(k):
        return {"plot_factor": np.zeros_like(n) if k is None else n / (n + k)}

    return Lever("plots", "field plots per stratum", factors)


def accuracy_lever(rd: RateDesign, accuracy) -> Lever:
    """``k`` more accuracy-assessment points in every stratum of every year's sample."""
    se0 = projected_loss_se(accuracy, 0)
    base = rate_variance(rd, se0) - rate_variance(rd, np.zeros_like(se0))

    def factors(k):
        if k is None:
            return {"map_factor": 0.0}
        se = projected_loss_se(accuracy, k)
        return {"map_factor": (rate_variance(rd, se) - rate_variance(rd, np.zeros_like(se))) / base}

    return Lever("accuracy_points", "accuracy-assessment points per stratum and year", factors)


def smallest_addition(removes: Callable[[int], bool], k_max: int) -> int | None:
    """Smallest ``k`` in ``0..k_max`` with ``removes(k)``, assuming it is monotone in k.

    Doubling, then bisection; ``None`` if ``removes(k_max)`` is false.
    """
    if removes(0):
        return 0
    if not removes(k_max):
        return None
    lo, hi = 0, 1
    while hi < k_max and not removes(hi):
        lo, hi = hi, min(2 * hi, k_max)
    while hi - lo > 1:  # removes(hi) and not removes(lo)
        mid = (lo + hi) // 2
        if removes(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _bootstrap_se(total: np.ndarray, standard: Standard, seed: int, n: int = 200) -> float:
    """Bootstrap SE (percentage points) of the uncertainty % of ``total``.

    Treats the quasi-random points as independent, which overstates the error of
    a Sobol' sample: a conservative Monte Carlo error.
    """
    gen = np.random.default_rng([seed, 0x424F4F54])
    idx = gen.integers(0, total.size, (n, total.size))
    u = relative_half_width(total[idx].T, standard.confidence, standard.relative_to)["uncertainty"]
    return 100.0 * float(np.std(u, ddof=1))


def planning(
    model: ResponseModel,
    lever: Lever,
    added: Sequence[int],
    z: np.ndarray,
    standard: Standard,
    buffer_pct: float,
    start_year: int,
    k_max: int,
) -> tuple[list[dict], dict]:
    """Projected uncertainty, deduction and credits for more sampling effort.

    Each case is the response model evaluated at the same latent scores ``z``
    (common random numbers, so differences between cases are not Monte Carlo
    noise) and accounted by :func:`simulator.accounting.account` under the run's
    standard; ``credits_gained`` is against ``k = 0``.

    Returns
    -------
    (rows, search)
        ``rows``: one dict per ``k`` in ``added`` plus the unlimited-effort limit
        (``added = "inf"``); ``search``: ``smallest`` (the smallest k that removes
        the deduction, or None), ``reachable`` (whether the limit removes it),
        ``k_max``.
    """
    cache: dict = {}

    def case(k):
        if k not in cache:
            sim = model.simulate(z, **lever.factors(k))
            total = account(sim, standard, buffer_pct, start_year).sel(period="total")
            ner = net_emission_reductions(sim.baseline, sim.project, sim.leakage).sum(axis=1)
            cache[k] = {
                v: float(total[v])
                for v in (
                    "ner_mean",
                    "uncertainty_pct",
                    "deduction_fraction",
                    "uncertainty_deduction",
                    "credits",
                )
            }
            cache[k]["uncertainty_pct_mcse"] = _bootstrap_se(ner, standard, seed=0)
        return cache[k]

    base = case(0)
    reachable = case(None)["deduction_fraction"] == 0.0
    smallest = (
        smallest_addition(lambda k: case(k)["deduction_fraction"] == 0.0, k_max)
        if reachable
        else None
    )
    ks = sorted(set(added) | ({smallest} if smallest is not None else set()))
    rows = []
    for k in [*ks, None]:
        r = case(k)
        rows.append(
            {
                "lever": lever.name,
                "added": "inf" if k is None else int(k),
                **r,
                "credits_gained": r["credits"] - base["credits"],
                "removes_deduction": "yes" if r["deduction_fraction"] == 0.0 else "no",
            }
        )
    return rows, {"smallest": smallest, "reachable": reachable, "k_max": k_max, "unit": lever.unit}
