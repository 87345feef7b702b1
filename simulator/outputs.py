"""Machine-readable outputs of a run: posterior.nc, summary.nc, tables/*.csv.

CSV numbers are written with ``repr`` precision, so the same config and seed give
byte-identical tables.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.streaming import Distribution

__all__ = [
    "write_posterior",
    "write_summary",
    "write_csv",
    "quantiles_dataset",
    "period_records",
    "write_standards_csv",
    "TABLE_COLUMNS",
]

#: Columns of ``tables/summary.csv`` in order (all tCO2e except where named).
TABLE_COLUMNS = (
    "baseline",
    "project",
    "leakage",
    "ner_mean",
    "ner_sd",
    "ner_median",
    "ner_ci_low",
    "ner_ci_high",
    "ner_mean_mcse",
    "ner_ci_low_mcse",
    "ner_ci_high_mcse",
    "ner_ci_low_mcse_futures",
    "ner_ci_high_mcse_futures",
    "ner_ci_low_mcse_posterior",
    "ner_ci_high_mcse_posterior",
    "uncertainty_pct",
    "adjustment_factor",
    "uncertainty_deduction",
    "adjusted_ner",
    "stock_change",
    "buffer",
    "credits",
)


def write_posterior(tree: xr.DataTree, path: Path) -> None:
    """Save every model's posterior (one group per model) as NetCDF4 (h5netcdf)."""
    tree.to_netcdf(path, engine="h5netcdf")


def write_summary(summary: xr.Dataset, path: Path) -> None:
    """Save the accounting summary as NetCDF4 (h5netcdf)."""
    summary.to_netcdf(path, engine="h5netcdf")


def write_csv(ds: xr.Dataset, dim: str, columns, path: Path) -> None:
    """Write ``columns`` of a 1-d Dataset as CSV, one row per ``dim`` value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([dim, *columns])
        for i, label in enumerate(ds[dim].values):
            writer.writerow([label, *(_cell(ds[c].values[i]) for c in columns)])


def _cell(value) -> str:
    """Numbers at full (repr) precision; text as is."""
    if isinstance(value, str | np.str_):
        return str(value)
    return repr(float(value))


def quantiles_dataset(
    dist: Distribution, years: np.ndarray, quantiles=(0.05, 0.25, 0.5, 0.75, 0.95)
) -> xr.Dataset:
    """Per-year quantiles of a simulated quantity (the fan chart tables)."""
    q = dist.quantile(list(quantiles))[:, : len(years)]
    return xr.Dataset(
        {f"q{int(round(p * 100)):02d}": ("year", q[i]) for i, p in enumerate(quantiles)},
        coords={"year": years},
    ).assign(mean=("year", dist.mean[: len(years)]))


def period_records(summary: xr.Dataset, columns=TABLE_COLUMNS) -> list[dict]:
    """One dict per period (``{"period": "2026", column: float, ...}``), years then total."""
    return [
        {"period": str(p), **{c: float(summary[c].values[i]) for c in columns}}
        for i, p in enumerate(summary["period"].values)
    ]


def write_standards_csv(side_by_side: xr.Dataset, path: Path) -> None:
    """Write the side-by-side table of standards: one row per (standard, period)."""
    columns = list(side_by_side.data_vars)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["standard", "period", *columns])
        for key in side_by_side["standard"].values:
            for record in period_records(side_by_side.sel(standard=key), columns):
                writer.writerow([key, record["period"], *(repr(record[c]) for c in columns)])
