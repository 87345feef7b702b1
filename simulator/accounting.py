"""From simulated emissions to issuable credits (VCS order, VM0007 v1.8 §8.4-8.6).

Per crediting year and for the whole period:

1. net emission reductions ``NER = baseline - project - leakage`` (per draw);
2. uncertainty ``U`` = half-width of the standard's confidence interval of NER
   divided by its mean; adjusted NER = mean NER x :func:`vcs_uncertainty_factor`;
3. non-permanence buffer on the *unadjusted* net change in carbon stocks
   (baseline - project, leakage excluded);
4. credits = adjusted NER - buffer.

Each rule is one function in :mod:`simulator.standards`; this module only
summarises the simulated distribution and applies them in order.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from simulator.kernels import SimulationResult
from simulator.standards import Standard, non_permanence_buffer, vcs_uncertainty_factor

__all__ = ["net_emission_reductions", "interval_summary", "account", "MCSE_BATCHES"]

#: Number of contiguous batches of draws for batch-means Monte Carlo standard errors.
MCSE_BATCHES = 20


def net_emission_reductions(baseline, project, leakage):
    """``NER = baseline - project - leakage`` (tCO2e), elementwise."""
    return baseline - project - leakage


def interval_summary(x: np.ndarray, confidence: float) -> dict[str, np.ndarray]:
    """Mean, SD, median and central interval of draws, with Monte Carlo errors.

    Parameters
    ----------
    x : ndarray, shape (n_draws, ...)
        Simulated values; statistics are taken over the first axis.
    confidence : float
        Two-sided level of the interval (0.90 -> 5th and 95th percentiles).

    Returns
    -------
    dict of str to ndarray
        ``mean, sd, median, ci_low, ci_high, half_width, uncertainty`` (half-width
        over |mean|, a fraction) and ``mean_mcse, ci_low_mcse, ci_high_mcse``:
        batch-means standard errors over :data:`MCSE_BATCHES` contiguous batches
        of draws (Flegal & Jones 2010, Ann. Statist. 38:1034).
    """
    alpha = (1.0 - confidence) / 2.0
    mean = x.mean(axis=0)
    low, median, high = np.quantile(x, [alpha, 0.5, 1.0 - alpha], axis=0)
    half = (high - low) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        uncertainty = np.where(mean != 0, half / np.abs(mean), np.inf)
    n_batches = min(MCSE_BATCHES, x.shape[0] // 10)
    batches = np.array_split(x, n_batches, axis=0)
    batch_q = np.array([np.quantile(b, [alpha, 1.0 - alpha], axis=0) for b in batches])
    batch_mean = np.array([b.mean(axis=0) for b in batches])
    se = lambda v: v.std(axis=0, ddof=1) / np.sqrt(n_batches)  # noqa: E731
    return {
        "mean": mean,
        "sd": x.std(axis=0, ddof=1),
        "median": median,
        "ci_low": low,
        "ci_high": high,
        "half_width": half,
        "uncertainty": uncertainty,
        "mean_mcse": se(batch_mean),
        "ci_low_mcse": se(batch_q[:, 0]),
        "ci_high_mcse": se(batch_q[:, 1]),
    }


def account(
    sim: SimulationResult, standard: Standard, buffer_pct: float, start_year: int
) -> xr.Dataset:
    """Account a simulation under a standard, per year and for the whole period.

    Parameters
    ----------
    sim : SimulationResult
        Simulated baseline, project and leakage emissions per draw and year.
    standard : Standard
        Gives the confidence level and the allowable uncertainty.
    buffer_pct : float
        Non-permanence risk rating (%).
    start_year : int
        First crediting year (labels the periods).

    Returns
    -------
    xarray.Dataset
        Dimension ``period`` (each year, then ``"total"``); variables in tCO2e
        unless named otherwise: ``baseline, project, leakage, stock_change`` (means),
        ``ner_*`` (the :func:`interval_summary` of NER), ``uncertainty_pct``,
        ``adjustment_factor``, ``uncertainty_deduction``, ``adjusted_ner``,
        ``buffer``, ``credits``.
    """
    n_years = sim.baseline.shape[1]

    def with_total(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a, a.sum(axis=1, keepdims=True)], axis=1)

    baseline, project, leakage = (with_total(a) for a in (sim.baseline, sim.project, sim.leakage))
    ner = net_emission_reductions(baseline, project, leakage)
    summary = interval_summary(ner, standard.confidence)
    factor = vcs_uncertainty_factor(summary["uncertainty"], standard.allowable)
    adjusted = summary["mean"] * factor
    stock_change = (baseline - project).mean(axis=0)
    buffer = non_permanence_buffer(stock_change, buffer_pct)
    periods = [str(start_year + t) for t in range(n_years)] + ["total"]
    data = {
        "baseline": baseline.mean(axis=0),
        "project": project.mean(axis=0),
        "leakage": leakage.mean(axis=0),
        "stock_change": stock_change,
        **{f"ner_{k}": v for k, v in summary.items()},
        "uncertainty_pct": 100.0 * summary["uncertainty"],
        "adjustment_factor": factor,
        "uncertainty_deduction": summary["mean"] - adjusted,
        "adjusted_ner": adjusted,
        "buffer": buffer,
        "credits": adjusted - buffer,
    }
    ds = xr.Dataset(
        {k: ("period", np.asarray(v)) for k, v in data.items()}, coords={"period": periods}
    )
    ds.attrs.update(
        standard=standard.key,
        standard_title=standard.title,
        citation=standard.citation,
        confidence=standard.confidence,
        allowable_uncertainty=standard.allowable,
        buffer_pct=buffer_pct,
        n_draws=int(sim.baseline.shape[0]),
        units="tCO2e",
    )
    return ds
