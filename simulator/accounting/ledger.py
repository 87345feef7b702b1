"""From simulated emissions to issuable credits, under one standard or all side by side.

Per crediting year and for the whole period (VCS order, VM0007 v1.8 §8.4-8.6):

1. net emission reductions ``NER = baseline - project - leakage`` (per draw);
2. uncertainty at the standard's confidence level, and its deduction
   (:func:`simulator.accounting.standards.deduction`);
3. buffer for non-permanence on the quantity the standard names (VCS: the
   *unadjusted* net change in carbon stocks, leakage excluded);
4. credits = NER after the uncertainty deduction - buffer.

Every rule is a function in :mod:`simulator.accounting.standards`; this module applies them
in order to the simulated distribution, given as a :class:`simulator.engine.streaming.Summary`
(streamed statistics) or as draws in memory (:class:`SimulationResult`).
:func:`simulator.accounting.ipcc.ipcc_comparison` sets IPCC Approach 1 (error
propagation) beside Approach 2 (this Monte Carlo).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from simulator.accounting.ipcc import ipcc_comparison
from simulator.accounting.standards import (
    STANDARDS,
    Standard,
    deduction,
    non_permanence_buffer,
    relative_half_width,
)
from simulator.engine.kernels import KernelInputs, SimulationResult
from simulator.engine.streaming import Summary, as_distribution, as_summary

__all__ = [
    "Accounts",
    "account_all",
    "net_emission_reductions",
    "interval_summary",
    "account",
    "compare_standards",
    "SIDE_BY_SIDE",
]

#: Variables of the side-by-side table of standards.
SIDE_BY_SIDE = (
    "confidence",
    "uncertainty_pct",
    "deduction_fraction",
    "uncertainty_deduction",
    "buffer",
    "credits",
)


def net_emission_reductions(baseline, project, leakage):
    """``NER = baseline - project - leakage`` (tCO2e), elementwise."""
    return baseline - project - leakage


def interval_summary(x, confidence: float) -> dict[str, np.ndarray]:
    """Mean, SD, median and central interval of draws, with Monte Carlo errors.

    Parameters
    ----------
    x : ndarray, shape (n_draws, ...), or Distribution
        Simulated values (statistics over the first axis) or their streamed summary.
    confidence : float
        Two-sided level of the interval (0.90 -> 5th and 95th percentiles).

    Returns
    -------
    dict of str to ndarray
        ``mean, sd, median, ci_low, ci_high, half_width, uncertainty`` (half-width
        over |mean|, a fraction) and ``mean_mcse, ci_low_mcse, ci_high_mcse``, the
        Monte Carlo standard errors (for the bounds: futures and posterior sample,
        :meth:`simulator.engine.streaming.Distribution.quantile_mcse`), with their parts
        ``ci_{low,high}_mcse_futures`` and ``ci_{low,high}_mcse_posterior`` (NaN
        where the posterior part is not tracked: single years).
    """
    dist = as_distribution(x)
    alpha = (1.0 - confidence) / 2.0
    interval = relative_half_width(dist, confidence, "mean")
    return {
        "mean": interval["centre"],
        "sd": dist.sd,
        "median": dist.quantile(0.5),
        "ci_low": interval["low"],
        "ci_high": interval["high"],
        "half_width": interval["half_width"],
        "uncertainty": interval["uncertainty"],
        "mean_mcse": dist.mean_mcse,
        "ci_low_mcse": dist.quantile_mcse(alpha),
        "ci_high_mcse": dist.quantile_mcse(1.0 - alpha),
        "ci_low_mcse_futures": dist.futures_mcse(alpha),
        "ci_high_mcse_futures": dist.futures_mcse(1.0 - alpha),
        "ci_low_mcse_posterior": dist.posterior_mcse(alpha),
        "ci_high_mcse_posterior": dist.posterior_mcse(1.0 - alpha),
    }


def account(
    sim: Summary | SimulationResult, standard: Standard, buffer_pct: float, start_year: int
) -> xr.Dataset:
    """Account a simulation under a standard, per year and for the whole period.

    Parameters
    ----------
    sim : Summary or SimulationResult
        Simulated baseline, project and leakage emissions: their streamed summary,
        or the draws per draw and year.
    standard : Standard
        Gives the confidence level, the uncertainty statistic and the rule.
    buffer_pct : float
        Non-permanence risk rating (%).
    start_year : int
        First crediting year (labels the periods).

    Returns
    -------
    xarray.Dataset
        Dimension ``period`` (each year, then ``"total"``); variables in tCO2e
        unless named otherwise: ``baseline, project, leakage, stock_change`` (means),
        ``ner_*`` (the :func:`interval_summary` of NER at the standard's level),
        ``uncertainty_pct`` (the standard's statistic), ``deduction_fraction``,
        ``adjustment_factor``, ``uncertainty_deduction``, ``adjusted_ner``,
        ``buffer``, ``credits``. The whole-period row is accounted on the
        distribution of the period total, not as a sum of yearly deductions.
    """
    sim = as_summary(sim)
    ner, gross = sim["ner"], sim["gross"]
    summary = interval_summary(ner, standard.confidence)
    ded = deduction(standard, ner, gross)
    stock_change = gross.mean
    buffer_base = stock_change if standard.buffer_on == "stock_change" else ded.adjusted
    buffer = non_permanence_buffer(buffer_base, buffer_pct)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(ded.estimate > 0, ded.adjusted / ded.estimate, 1.0)
    data = {
        "baseline": sim["baseline"].mean,
        "project": sim["project"].mean,
        "leakage": sim["leakage"].mean,
        "stock_change": stock_change,
        **{f"ner_{k}": v for k, v in summary.items()},
        "uncertainty_pct": 100.0 * ded.uncertainty,
        "deduction_fraction": ded.fraction,
        "adjustment_factor": factor,
        "uncertainty_deduction": ded.deduction,
        "adjusted_ner": ded.adjusted,
        "buffer": buffer,
        "credits": ded.adjusted - buffer,
    }
    periods = [str(start_year + t) for t in range(sim.n_years)] + ["total"]
    ds = xr.Dataset(
        {k: ("period", np.asarray(v)) for k, v in data.items()}, coords={"period": periods}
    )
    ds.attrs.update(
        standard=standard.key,
        standard_title=standard.title,
        citation=standard.citation,
        confidence=standard.confidence,
        relative_to=standard.relative_to,
        buffer_on=standard.buffer_on,
        buffer_pct=buffer_pct,
        n_draws=sim.n_draws,
        units="tCO2e",
    )
    return ds


def compare_standards(
    sim: Summary | SimulationResult, buffer_pct: float, start_year: int, standards=None
) -> xr.Dataset:
    """The same simulation accounted under every standard, side by side.

    Returns
    -------
    xarray.Dataset
        Dimensions ``(standard, period)``; variables :data:`SIDE_BY_SIDE`
        (``confidence`` as a fraction, ``uncertainty_pct`` in %, amounts in tCO2e)
        and the mean NER. The attribute ``titles`` lists each standard's title.
    """
    sim = as_summary(sim)
    standards = list(standards or STANDARDS.values())
    tables = [account(sim, s, buffer_pct, start_year) for s in standards]
    rows = []
    for s, t in zip(standards, tables, strict=True):
        t = t.assign(confidence=("period", np.full(t.sizes["period"], s.confidence)))
        rows.append(t[["ner_mean", *SIDE_BY_SIDE]])
    out = xr.concat(rows, dim="standard", join="exact").assign_coords(
        standard=[s.key for s in standards]
    )
    out.attrs.update(
        titles=[s.title for s in standards],
        citations=[s.citation for s in standards],
        buffer_pct=buffer_pct,
        n_draws=sim.n_draws,
        units="tCO2e",
    )
    return out


@dataclass(frozen=True)
class Accounts:
    """Everything accounted from one simulation.

    Attributes
    ----------
    summary : xarray.Dataset
        :func:`account` under the run's standard.
    side_by_side : xarray.Dataset
        :func:`compare_standards` under every implemented standard.
    ipcc : dict
        :func:`ipcc_comparison` (Approach 1 vs 2).
    periods : simulator.accounting.periods.PeriodAccounts, optional
        Credits per monitoring period and vintage, where ``[crediting].periods`` is set.
    """

    summary: xr.Dataset
    side_by_side: xr.Dataset
    ipcc: dict
    periods: object | None = None


def account_all(
    sim: Summary | SimulationResult,
    inputs: KernelInputs,
    standard: Standard,
    buffer_pct: float,
    start_year: int,
) -> Accounts:
    """The run's standard, every standard side by side, and IPCC Approach 1 vs 2."""
    sim = as_summary(sim)
    return Accounts(
        summary=account(sim, standard, buffer_pct, start_year),
        side_by_side=compare_standards(sim, buffer_pct, start_year),
        ipcc=ipcc_comparison(sim, inputs),
    )
