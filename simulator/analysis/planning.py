"""Sampling-effort planning: what more field plots or accuracy points would buy.

The projection is anchored to the run: with no added effort it *is* the run's
accounting under its standard for the whole crediting period (the ``total``
period of :func:`simulator.accounting.account`, the run's ``summary.nc``), and
added effort only shrinks the run's variance of total NER:

``Var(k) = Var_run - sum_g (1 - f_g(k)) V_g``, with ``V_g = s_g Var_run``.

* ``f_g(k)`` is the factor a lever puts on the variance of part ``g`` with ``k``
  more units (1 at ``k = 0``, non-increasing in ``k``, 0 for unlimited effort).
  More field plots shrink each stratum's mean-AGB posterior: every plot-level
  term of its variance (between-plot variance and the per-plot measurement
  errors, independent between plots) scales as ``n_s / (n_s + k)`` (stratified
  sampling, Cochran 1977 Eq. 5.3 without finite-population correction; the same
  form as :func:`models.inventory.error_budget`), one part per stratum. More
  accuracy-assessment points shrink each year's loss SE as the stratified
  estimator (:func:`models.map_accuracy.annual_loss_estimates`) does on the
  error matrix scaled to the larger sample with the same proportions: each
  stratum's term of the loss variance scales as ``(n_h - 1) / (n_h + k - 1)``.
  The counts are kept unrounded (:func:`proportional_loss_se`), since rounding
  them to whole points makes the factor rise again at some ``k``; the map share
  of the projected log-rate variance is then recomputed by
  :func:`~simulator.analysis.rate_design.gls_prediction_variance`. The factor is the
  stratified estimator's even when the rate model takes the series pooled across
  years (:func:`models.map_accuracy.pooled_loss_estimates`): scaling the counts
  with the same proportions makes their year-to-year differences look more real
  and the pooling weaker, so the pooled variance of a year can grow with more
  points, an artefact of that projection; the stratified estimator's ratio is
  the monotone approximation.
* ``s_g`` is the share of the variance of total NER that part ``g`` carries
  (:func:`variance_shares`): its total effect ``E[Var(NER | all but g)] / Var(NER)``
  in the run's response model, by Jansen's estimator on the run's latent draws
  with only the part's latent scores drawn afresh (common random numbers for
  every other input, so the difference of the two evaluations is small and the
  estimate precise: a bootstrap standard error of about 5% of the share for the
  default run's largest parts). It is the Sobol' total index ``ST`` of exactly what
  the lever scales, which the sensitivity table's groups are not: a plot factor
  acts on a stratum's sampling and allometric errors alike, and the table splits
  them into two groups (the allometry one shared by the strata). It is what the
  part would stop contributing if
  its variance went and its mean stayed; setting the part's factor to 0 in the
  response model instead would move it to its posterior median, which for a
  skewed posterior shifts the mean of NER as well and overstates the share.
  Treating the variance as linear in each factor, ``Var(f) = Var - sum_g (1 -
  f_g) V_g``, holds exactly where total NER is multilinear in the parts (sums
  and products of independent terms, with each part's spread scaled about its
  mean) and is first order otherwise.
* The half-width of the interval scales with the SD (*assumption*: the shape of
  the distribution of total NER does not change), and the mean, or median, does
  not (more sampling does not change the expectation):
  ``U(k) = U_run sqrt(Var(k) / Var_run)``. The deduction and credits follow from
  ``U(k)`` by the standard's own rule (:attr:`Standard.rule`) with the ledger's
  arithmetic (:func:`project`), so ``k = 0`` gives the run's numbers exactly.

Every ``f_g`` is non-increasing in ``k`` and every ``s_g >= 0``, so ``U(k)`` is
non-increasing and the credits non-decreasing in ``k``, and unlimited effort
bounds every finite one: by construction, whatever the Monte Carlo noise of the
shares. The Monte Carlo error of ``U(k)`` combines the run's (:func:`uncertainty_mcse`,
scaled by the SD ratio) with a bootstrap of the shares over the latent draws.

References: see :mod:`simulator.analysis.sensitivity`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.accounting import account
from simulator.accounting.standards import (
    Standard,
    non_permanence_buffer,
    relative_half_width,
)
from simulator.analysis.rate_design import RateDesign, rate_variance
from simulator.analysis.response import ResponseModel

__all__ = [
    "Lever",
    "plot_lever",
    "accuracy_lever",
    "proportional_loss_se",
    "variance_shares",
    "variance_ratio",
    "run_uncertainty",
    "uncertainty_mcse",
    "project",
    "effort_projection",
    "smallest_addition",
    "planning",
]

log = logging.getLogger(__name__)

#: Quantities the planning rows report from :func:`project`.
PROJECTED = (
    "ner_mean",
    "uncertainty_pct",
    "deduction_fraction",
    "uncertainty_deduction",
    "credits",
)


@dataclass(frozen=True)
class Lever:
    """A way to add sampling effort, and the parts of the response model it scales.

    Attributes
    ----------
    name, unit : str
        The lever's name and the unit of ``k``.
    parts : tuple of str
        What each variance factor scales (a stratum's mean AGB; the map error).
    variance_factors : callable
        ``k -> f`` (one factor per part) for ``k`` added units: 1 at ``k = 0``,
        non-increasing in ``k``; ``k = None`` is unlimited effort (all 0).
    model_factors : callable
        ``f ->`` the keyword arguments of :meth:`ResponseModel.simulate`.
    columns : callable
        ``model ->`` the latent columns of each part in a :class:`ResponseModel`.
    """

    name: str
    unit: str
    parts: tuple[str, ...]
    variance_factors: Callable[[int | None], np.ndarray]
    model_factors: Callable[[np.ndarray], dict]
    columns: Callable[[ResponseModel], tuple[tuple[int, ...], ...]]

    def factors(self, k: int | None) -> dict:
        """Keyword arguments of :meth:`ResponseModel.simulate` for ``k`` added units."""
        return self.model_factors(self.variance_factors(k))


def plot_lever(n_plots: np.ndarray, strata: Sequence[str] | None = None) -> Lever:
    """``k`` more field plots in every stratum: variance factor ``n_s / (n_s + k)``."""
    n = np.asarray(n_plots, dtype=float)
    parts = tuple(strata) if strata is not None else tuple(str(i) for i in range(n.size))
    if len(parts) != n.size:
        raise ValueError(f"{len(parts)} strata for {n.size} plot counts")

    def variance_factors(k):
        return np.zeros_like(n) if k is None else n / (n + k)

    def model_factors(f):
        return {"plot_factor": np.asarray(f, dtype=float)}

    def columns(model):
        # a stratum's mean-AGB score: its biomass-sampling and its allometry column
        col = model.col
        return tuple((col["biomass"][s], col["allometry"][s]) for s in range(n.size))

    return Lever(
        "plots", "field plots per stratum", parts, variance_factors, model_factors, columns
    )


def proportional_loss_se(accuracy, added: int) -> np.ndarray:
    """Each year's loss SE with ``added`` more points per stratum, same proportions, unrounded.

    The stratified estimator's variance of the loss area is
    ``sum_h A_h^2 p_h (1 - p_h) / (n_h - 1)`` (``A_h`` mapped area, ``p_h`` the
    share of stratum h's sample that is loss; Olofsson et al. 2014 Eq. 10,
    :func:`models.map_accuracy.stratified_area_estimate`); with ``n_h + added``
    points and the same ``p_h`` each term becomes ``... / (n_h + added - 1)``.
    It equals :func:`~simulator.analysis.rate_design.projected_loss_se` wherever
    the scaled counts are whole, and, unlike the rounded counts, it is
    decreasing in ``added``.

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
        n_h = n.sum(axis=1)
        p = n[:, list(est.classes).index("loss")] / n_h
        area = np.asarray(est.mapped_area, dtype=float)
        out.append(np.sqrt(np.sum(area**2 * p * (1.0 - p) / (n_h + added - 1.0))))
    return np.array(out)


def accuracy_lever(rd: RateDesign, accuracy) -> Lever:
    """``k`` more accuracy-assessment points in every stratum of every year's sample.

    The variance factor of the map part is ``(V(se_k) - V(0)) / (V(se_0) - V(0))``,
    ``V`` = :func:`~simulator.analysis.rate_design.rate_variance` and ``se_k`` from
    :func:`proportional_loss_se` (non-increasing in ``k``: every year's SE falls and
    the GLS prediction variance rises with each observation's variance).
    """
    se0 = proportional_loss_se(accuracy, 0)
    none = rate_variance(rd, np.zeros_like(se0))
    base = rate_variance(rd, se0) - none

    def variance_factors(k):
        if k is None or base <= 0:
            return np.zeros(1) if k is None else np.ones(1)
        f = (rate_variance(rd, proportional_loss_se(accuracy, k)) - none) / base
        return np.array([min(max(f, 0.0), 1.0)])

    def model_factors(f):
        return {"map_factor": float(np.asarray(f)[0])}

    def columns(model):
        return ((model.col["map"],),)

    return Lever(
        "accuracy_points",
        "accuracy-assessment points per stratum and year",
        ("map",),
        variance_factors,
        model_factors,
        columns,
    )


def _of(sim, of: str) -> np.ndarray:
    """Total over the crediting period of NER or of gross reductions, per row."""
    gross = sim.baseline - sim.project
    return (gross if of == "gross" else gross - sim.leakage).sum(axis=1)


def variance_shares(
    model: ResponseModel,
    lever: Lever,
    z: np.ndarray,
    of: str = "ner",
    n_boot: int = 200,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Share ``s_g`` of the variance of total NER that each part of a lever carries.

    ``s_g = E[Var(Y | all but g)] / Var(Y)``, the total effect of the part's latent
    scores (their Sobol' total index), by Jansen's estimator
    ``E[Var(Y | all but g)] = mean((f(z) - f(z'))^2) / 2`` (Saltelli et al. 2010,
    Table 2 f), where ``z'`` is ``z`` with the part's columns replaced by independent
    standard-normal scores (seeded) and every other column the same (common random
    numbers: ``f(z) - f(z')`` is small, so the estimate is precise). It is what the
    part would stop contributing with its variance gone and its mean kept. Setting
    the part's factor to 0 instead would move it to its posterior median, which for
    a skewed posterior also shifts the mean of NER and overstates the share. The
    shares are scaled down if they add up to more than 1.

    Parameters
    ----------
    model : ResponseModel
    lever : Lever
    z : ndarray, shape (m, n_latent)
    of : {"ner", "gross"}
        The quantity whose interval is the standard's uncertainty.
    n_boot : int
        Bootstrap replicates (rows of ``z`` resampled; treating quasi-random points
        as independent overstates the error).
    seed : int

    Returns
    -------
    (shares, replicates)
        ``(n_parts,)`` and ``(n_boot, n_parts)``.
    """
    z = np.asarray(z, dtype=float)
    y = _of(model.simulate(z), of)
    fresh = np.random.default_rng([seed, 0x4A414E53])
    diff = []
    for cols in lever.columns(model):
        other = z.copy()
        other[:, list(cols)] = fresh.standard_normal((z.shape[0], len(cols)))
        diff.append(y - _of(model.simulate(other), of))
    diff = np.array(diff).reshape(len(lever.parts), z.shape[0])

    def shares(y, d):
        v = np.var(y, ddof=1)
        if not v > 0:
            return np.zeros(d.shape[0])
        s = np.minimum(0.5 * np.mean(d * d, axis=1) / v, 1.0)
        total = s.sum()
        return s / total if total > 1.0 else s

    point = shares(y, diff)
    gen = np.random.default_rng([seed, 0x53484152])
    boot = np.empty((n_boot, len(lever.parts)))
    for b in range(n_boot):  # one replicate at a time: memory stays that of z
        idx = gen.integers(0, y.size, y.size)
        boot[b] = shares(y[idx], diff[:, idx])
    return point, boot


def variance_ratio(shares: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``Var(k) / Var_run = 1 - sum_g (1 - f_g) s_g``, in ``[0, 1]`` (over the last axis)."""
    s = np.asarray(shares, dtype=float)
    f = np.asarray(factors, dtype=float)
    return np.clip(1.0 - np.sum((1.0 - f) * s, axis=-1), 0.0, 1.0)


def run_uncertainty(run: Mapping, standard: Standard) -> float:
    """The run's uncertainty (a fraction) as its deduction used it, from its whole-period row.

    For an uncertainty of NER it is recomputed from the row's half-width and
    centre exactly as :func:`simulator.accounting.standards.relative_half_width`
    does (the same floating-point value); for one of gross reductions (ART
    TREES), whose half-width the row does not hold, it is ``uncertainty_pct / 100``
    (equal to within one rounding).
    """
    if standard.uncertainty_of != "ner":
        return float(run["uncertainty_pct"]) / 100.0
    centre = float(run["ner_mean"] if standard.relative_to == "mean" else run["ner_median"])
    half = float(run["ner_half_width"])
    return half / abs(centre) if centre != 0 else float("inf")


def uncertainty_mcse(run: Mapping, standard: Standard) -> float:
    """Monte Carlo standard error of the run's U (percentage points).

    From the Monte Carlo errors of the interval's bounds and of the mean that the
    run reports (:func:`simulator.accounting.interval_summary`), treated as
    independent: ``se(U) / U = sqrt((se_hw / hw)^2 + (se_mean / mean)^2)`` with
    ``se_hw = sqrt(se_low^2 + se_high^2) / 2``. The bounds' errors are positively
    correlated (the same draws), so this overstates the error of the half-width.
    The centre's term is left out where U is relative to the median (its error
    is not tracked); for an uncertainty of gross reductions the relative error of
    NER's interval stands for it.
    """
    u = float(run["uncertainty_pct"])
    half = float(run["ner_half_width"])
    if not (np.isfinite(u) and half > 0):
        return 0.0
    se_half = 0.5 * np.hypot(float(run["ner_ci_low_mcse"]), float(run["ner_ci_high_mcse"]))
    rel2 = (se_half / half) ** 2
    if standard.relative_to == "mean" and float(run["ner_mean"]) != 0:
        rel2 += (float(run["ner_mean_mcse"]) / float(run["ner_mean"])) ** 2
    return u * float(np.sqrt(rel2))


def project(run: Mapping, standard: Standard, buffer_pct: float, scale: float) -> dict:
    """The run's whole-period accounting with the half-width of its interval scaled.

    ``U = scale x U_run``; the mean NER and the gross reductions are the run's;
    the deduction fraction is the standard's rule (:attr:`Standard.rule`) of ``U``,
    and deduction, buffer and credits follow as in
    :func:`simulator.accounting.standards.deduction` and
    :func:`simulator.accounting.account` (a deduction capped at the estimate,
    none for a non-positive estimate; the buffer on the quantity the standard
    names). ``scale = 1`` gives the run's own numbers exactly: the fraction is then
    the run's (its rule of its U), and below 1 it is never more than the run's.
    That matters only where U is of gross reductions (ART TREES), which the row
    holds as a percentage alone: its U is known to within one rounding there.

    Parameters
    ----------
    run : Mapping or xarray.Dataset
        The run's ``total`` row of :func:`simulator.accounting.account`.
    standard : Standard
    buffer_pct : float
        The run's non-permanence risk rating (%).
    scale : float
        ``sqrt(Var(k) / Var_run)``, in ``[0, 1]``.

    Returns
    -------
    dict
        :data:`PROJECTED`.
    """
    u = run_uncertainty(run, standard) * scale
    estimate = np.float64(run["ner_mean"])
    gross = np.float64(run["stock_change"])
    positive = estimate > 0
    fraction = np.float64(run["deduction_fraction"])  # the rule of the run's own U
    if scale < 1.0:  # U(k) <= U_run, so never more than the run's
        rule = np.where(positive, standard.rule(np.where(positive, u, 0.0)), 0.0)
        fraction = np.minimum(rule, fraction)
    base = gross if standard.applies_to == "gross" else estimate
    amount = np.where(positive, np.minimum(fraction * base, estimate), 0.0)
    adjusted = estimate - amount
    buffer = non_permanence_buffer(
        gross if standard.buffer_on == "stock_change" else adjusted, buffer_pct
    )
    return {
        "ner_mean": float(estimate),
        "uncertainty_pct": float(run["uncertainty_pct"]) * scale,
        "deduction_fraction": float(fraction),
        "uncertainty_deduction": float(amount),
        "credits": float(adjusted - buffer),
    }


def effort_projection(
    run: Mapping, standard: Standard, buffer_pct: float, shares: np.ndarray, factors: np.ndarray
) -> dict:
    """The run's accounting with the lever's parts scaled by ``factors`` (module docstring).

    ``Var(k) / Var_run`` = :func:`variance_ratio` of ``shares`` and ``factors``, and
    :func:`project` at ``scale = sqrt(Var(k) / Var_run)``.

    Returns
    -------
    dict
        :data:`PROJECTED` and ``variance_ratio``.
    """
    ratio = float(variance_ratio(shares, factors))
    return {**project(run, standard, buffer_pct, float(np.sqrt(ratio))), "variance_ratio": ratio}


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
    run: Mapping | None = None,
) -> tuple[list[dict], dict]:
    """Projected uncertainty, deduction and credits for more sampling effort.

    The projection of the module docstring: the run's accounting (``run``) with its
    variance of total NER reduced by the lever's parts, ``U(k) = U_run sqrt(Var(k) /
    Var_run)``, and the deduction and credits by the standard's rule
    (:func:`effort_projection`); ``credits_gained`` is against ``k = 0``, the run itself.

    Parameters
    ----------
    model : ResponseModel
    lever : Lever
    added : sequence of int
        The ``k`` to report.
    z : ndarray, shape (m, n_latent)
        Latent scores for the variance shares (:func:`variance_shares`).
    standard : Standard
    buffer_pct : float
    start_year : int
    k_max : int
        Largest ``k`` the search for the smallest addition tries.
    run : Mapping or xarray.Dataset, optional
        The run's whole-period accounting (``account(...).sel(period="total")``)
        with its Monte Carlo errors. Without it the projection is anchored to the
        response model's own accounting at ``z`` and its U error is a bootstrap.

    Returns
    -------
    (rows, search)
        ``rows``: one dict per ``k`` in ``added`` (and the smallest k that removes
        the deduction) plus the unlimited-effort limit (``added = "inf"``), with
        :data:`PROJECTED`, ``uncertainty_pct_mcse``, ``variance_ratio``,
        ``credits_gained`` and ``removes_deduction``; ``search``: ``smallest`` (or
        None), ``reachable`` (whether the limit removes the deduction), ``k_max``,
        ``unit``, ``shares`` (part -> ``s_g``) and ``anchor`` (``"run"`` or
        ``"response model"``).
    """
    of = standard.uncertainty_of
    shares, boot = variance_shares(model, lever, z, of)
    if run is None:
        sim = model.simulate(z)
        run = account(sim, standard, buffer_pct, start_year).sel(period="total")
        mcse0, anchor = _bootstrap_se(_of(sim, of), standard, seed=0), "response model"
    else:
        mcse0, anchor = uncertainty_mcse(run, standard), "run"
    u_run = float(run["uncertainty_pct"])
    cache: dict = {}

    def case(k):
        if k not in cache:
            f = lever.variance_factors(k)
            out = effort_projection(run, standard, buffer_pct, shares, f)
            scale, scale_boot = np.sqrt(out["variance_ratio"]), np.sqrt(variance_ratio(boot, f))
            out["uncertainty_pct_mcse"] = float(
                np.hypot(mcse0 * scale, u_run * np.std(scale_boot, ddof=1))
            )
            cache[k] = out
        return cache[k]

    base = case(0)
    reachable = case(None)["deduction_fraction"] == 0.0
    smallest = (
        smallest_addition(lambda k: case(k)["deduction_fraction"] == 0.0, k_max)
        if reachable
        else None
    )
    ks = sorted(set(added) | {0} | ({smallest} if smallest is not None else set()))
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
    search = {
        "smallest": smallest,
        "reachable": reachable,
        "k_max": k_max,
        "unit": lever.unit,
        "shares": dict(zip(lever.parts, shares.tolist(), strict=True)),
        "anchor": anchor,
    }
    return rows, search
