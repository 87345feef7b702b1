"""Credits per monitoring period and per vintage, each standard by its own formula.

VCS issues credits at verification, one monitoring period at a time. Periods are
distinct, do not overlap (VCS Standard v4.7 §3.5.6) and leave no gaps (§3.5.7);
:func:`check_periods` enforces both. Per period:

* standards that adjust *cumulative* NER (:attr:`Standard.cumulative`: VM0007
  v1.8 §8.4.6 Eq. 16-18, VMD0017 v2.2 Eq. 22) take the uncertainty of the NER
  summed up to the period's end, ``Adjusted_NER(t2)``, and credit
  ``VCU = Adjusted_NER(t2) - Adjusted_NER(t1) - Buffer``;
* the others (VCS Methodology Requirements v4.4 §2.4, ART TREES, FCPF) deduct on
  the period's own reductions.

The buffer is withheld on the quantity each standard names, for the period. The
row ``sum`` is the sum of the period rows and nothing else. Vintages split each
period's credits over its calendar years in proportion to the years' reductions
(VCS Registration and Issuance Process v4.6 §4.1.2 and Box 1: separate vintages
per calendar year, "based on the breakdown of reductions and removals in the
monitoring report").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from simulator.accounting.standards import (
    STANDARDS,
    Standard,
    deduction,
    non_permanence_buffer,
)
from simulator.config.periods import check_periods, parse_period, period_label

__all__ = [
    "parse_period",
    "period_label",
    "check_periods",
    "periods_from_years",
    "period_accounts",
    "compare_periods",
    "vintages",
    "PERIOD_VARIABLES",
    "PERIOD_DRAWS",
    "PeriodAccounts",
    "account_periods",
]

#: Variables of the per-period table of each standard (tCO2e unless named otherwise).
PERIOD_VARIABLES = (
    "ner_mean",
    "gross_mean",
    "uncertainty_pct",
    "deduction_fraction",
    "uncertainty_deduction",
    "adjusted_ner",
    "buffer",
    "credits",
)


def periods_from_years(yearly: np.ndarray, start_year: int, periods) -> np.ndarray:
    """Sum per-draw yearly values ``(n_draws, n_years)`` into periods ``(n_draws, n_periods)``.

    Raises
    ------
    ValueError
        Where a period reaches outside the simulated years.
    """
    yearly = np.asarray(yearly, dtype=float)
    last_year = start_year + yearly.shape[1] - 1
    cols = []
    for first, last in periods:
        if first < start_year or last > last_year:
            raise ValueError(
                f"monitoring period {period_label((first, last))} is outside the crediting "
                f"years {start_year}-{last_year}"
            )
        cols.append(yearly[:, first - start_year : last - start_year + 1].sum(axis=1))
    return np.stack(cols, axis=1)


def period_accounts(
    ner: np.ndarray, gross: np.ndarray, periods, standard: Standard, buffer_pct: float
) -> xr.Dataset:
    """One standard's credits per monitoring period, from draws per period.

    Parameters
    ----------
    ner, gross : ndarray, shape (n_draws, n_periods)
        Net reductions and gross reductions (before leakage) of each period, per
        draw (not cumulative), tCO2e. Rows are joint draws.
    periods : sequence of (first_year, last_year)
    standard : Standard
    buffer_pct : float
        Non-permanence risk rating (%).

    Returns
    -------
    xarray.Dataset
        Dimension ``period`` (each period's label, then ``"sum"``, the sum of the
        rows above it); variables :data:`PERIOD_VARIABLES`. For a cumulative
        standard, ``uncertainty_pct`` and ``deduction_fraction`` are those of the
        cumulative NER up to the period's end and ``adjusted_ner`` is
        ``Adjusted_NER(t2) - Adjusted_NER(t1)``; the attribute ``formula`` says which.
    """
    ner = np.asarray(ner, dtype=float)
    gross = np.asarray(gross, dtype=float)
    periods = [tuple(p) for p in periods]
    check_periods(periods)
    if ner.ndim != 2 or ner.shape != gross.shape or ner.shape[1] != len(periods):
        raise ValueError("ner and gross must be (n_draws, n_periods) arrays of the same shape")
    if standard.cumulative:
        ded = deduction(standard, np.cumsum(ner, axis=1), np.cumsum(gross, axis=1))
        adjusted = np.diff(ded.adjusted, prepend=0.0)  # Eq. 16: Adjusted(t2) - Adjusted(t1)
        cumulative_deduction = ded.deduction
        amount = np.diff(cumulative_deduction, prepend=0.0)
        formula = (
            "VCU = Adjusted_NER(t2) - Adjusted_NER(t1) - Buffer (VM0007 v1.8 Eq. 16), "
            f"Adjusted_NER on the cumulative NER ({standard.citation.split(':')[0]}); a "
            "period's deduction is the change of the cumulative deduction, negative where "
            "the cumulative uncertainty falls"
        )
    else:
        ded = deduction(standard, ner, gross)
        adjusted, amount = ded.adjusted, ded.deduction
        formula = "credits = NER x (1 - deducted fraction) - buffer, per period"
    ner_mean, gross_mean = ner.mean(axis=0), gross.mean(axis=0)
    buffer_base = gross_mean if standard.buffer_on == "stock_change" else adjusted
    buffer = non_permanence_buffer(buffer_base, buffer_pct)
    data = {
        "ner_mean": ner_mean,
        "gross_mean": gross_mean,
        "uncertainty_pct": 100.0 * np.asarray(ded.uncertainty, dtype=float),
        "deduction_fraction": np.asarray(ded.fraction, dtype=float),
        "uncertainty_deduction": amount,
        "adjusted_ner": adjusted,
        "buffer": buffer,
        "credits": adjusted - buffer,
    }
    summed = {"uncertainty_pct", "deduction_fraction"}
    labels = [period_label(p) for p in periods] + ["sum"]
    ds = xr.Dataset(
        {
            k: ("period", np.append(v, np.nan if k in summed else np.sum(v)))
            for k, v in data.items()
        },
        coords={"period": labels},
    )
    ds.attrs.update(
        standard=standard.key,
        citation=standard.citation,
        formula=formula,
        confidence=standard.confidence,
        buffer_pct=float(buffer_pct),
        n_draws=int(ner.shape[0]),
        units="tCO2e",
        sum_row="the row 'sum' adds the period rows; percentages are not summed (NaN)",
    )
    if standard.illustrative:
        ds.attrs["illustrative"] = standard.illustrative
    return ds


def compare_periods(
    ner: np.ndarray, gross: np.ndarray, periods, buffer_pct: float, standards=None
) -> xr.Dataset:
    """:func:`period_accounts` under every standard, side by side (dims standard, period)."""
    standards = list(standards or STANDARDS.values())
    tables = [period_accounts(ner, gross, periods, s, buffer_pct) for s in standards]
    out = xr.concat(
        [t[list(PERIOD_VARIABLES)] for t in tables], dim="standard", join="exact"
    ).assign_coords(standard=[s.key for s in standards])
    out.attrs.update(
        formulas=[t.attrs["formula"] for t in tables],
        citations=[s.citation for s in standards],
        illustrative=[s.illustrative for s in standards],
        buffer_pct=float(buffer_pct),
        n_draws=int(np.asarray(ner).shape[0]),
        units="tCO2e",
    )
    return out


def vintages(credits: xr.DataArray, periods, yearly_ner=None) -> xr.DataArray:
    """Credits per calendar year (vintage), from credits per period.

    Parameters
    ----------
    credits : xarray.DataArray
        Credits with a ``period`` dimension labelled as :func:`period_accounts` does
        (a ``"sum"`` entry is ignored); other dimensions (``standard``) are kept.
    periods : sequence of (first_year, last_year)
    yearly_ner : dict of int to float, optional
        Mean NER of each calendar year: a period's credits are split in proportion
        to its years' reductions. Without it (or where a period's yearly
        reductions do not sum to a positive number), equally over its years.

    Returns
    -------
    xarray.DataArray
        Dimension ``vintage`` (calendar years, as strings) in place of ``period``;
        each period's vintages add up to its credits.
    """
    parts = []
    years = []
    for first, last in periods:
        label = period_label((first, last))
        span = list(range(first, last + 1))
        w = np.array([(yearly_ner or {}).get(y, np.nan) for y in span], dtype=float)
        if yearly_ner is None or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            w = np.ones(len(span))
        w = w / w.sum()
        c = credits.sel(period=label)
        for y, share in zip(span, w, strict=True):
            parts.append(c * share)
            years.append(str(y))
    out = xr.concat(parts, dim="vintage").assign_coords(vintage=years)
    out.attrs.update(
        rule=(
            "separate vintages per calendar year (VCS Registration and Issuance Process v4.6 "
            "§4.1.2), split in proportion to each year's mean NER"
        ),
        units="tCO2e",
    )
    return out


#: Draws held in memory for the per-period accounts of a run: the first draws of the
#: run's own stream (the counter RNG gives the same draws whatever the chunking).
PERIOD_DRAWS = 262_144


@dataclass(frozen=True)
class PeriodAccounts:
    """Credits per monitoring period under every standard, and per vintage.

    Attributes
    ----------
    table : xarray.Dataset
        :func:`compare_periods` (dims ``standard, period``).
    vintages : xarray.DataArray
        :func:`vintages` of the credits (dims ``standard, vintage``).
    """

    table: xr.Dataset
    vintages: xr.DataArray

    def records(self) -> dict:
        """JSON-ready: per standard, per period the :data:`PERIOD_VARIABLES`, and vintages."""

        def num(x):
            x = float(x)
            return None if not np.isfinite(x) else x

        out = {}
        for key in self.table.standard.values:
            t = self.table.sel(standard=key)
            out[str(key)] = {
                "periods": [
                    {"period": str(p), **{v: num(t[v].sel(period=p)) for v in PERIOD_VARIABLES}}
                    for p in t.period.values
                ],
                "vintages": {
                    str(y): num(self.vintages.sel(standard=key, vintage=y))
                    for y in self.vintages.vintage.values
                },
            }
        return out


def account_periods(
    baseline: np.ndarray,
    project: np.ndarray,
    leakage: np.ndarray,
    start_year: int,
    periods,
    buffer_pct: float,
) -> PeriodAccounts:
    """Per-period and per-vintage credits of a simulation held in memory.

    Parameters
    ----------
    baseline, project, leakage : ndarray, shape (n_draws, n_years)
        Simulated emissions per draw and crediting year (tCO2e).
    start_year : int
        Calendar year of the first column.
    periods : sequence of (first_year, last_year)
    buffer_pct : float
    """
    gross_y = np.asarray(baseline, dtype=float) - np.asarray(project, dtype=float)
    ner_y = gross_y - np.asarray(leakage, dtype=float)
    ner = periods_from_years(ner_y, start_year, periods)
    gross = periods_from_years(gross_y, start_year, periods)
    table = compare_periods(ner, gross, periods, buffer_pct)
    yearly = {start_year + t: float(m) for t, m in enumerate(ner_y.mean(axis=0))}
    return PeriodAccounts(table, vintages(table.credits, periods, yearly))
