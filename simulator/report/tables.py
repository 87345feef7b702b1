"""Machine-readable outputs of a run: posterior.nc, summary.nc, tables/*.csv.

CSV numbers are written with ``repr`` precision, so the same config and seed give
byte-identical tables. The datasets behind the inventory, accuracy and
sensitivity tables are built here too, so a table and the appendix section that
shows it read the same numbers.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import xarray as xr

from models import biomass
from models.inventory import INDEPENDENT_SOURCES, SHARED_SOURCES
from models.map_accuracy import pooled_loss_estimates
from models.sampling import flat_draws
from simulator.data import RunData
from simulator.engine.streaming import Distribution

__all__ = [
    "write_posterior",
    "write_summary",
    "write_csv",
    "quantiles_dataset",
    "period_records",
    "write_standards_csv",
    "TABLE_COLUMNS",
    "BUDGET_SOURCES",
    "SENSITIVITY_COLUMNS",
    "PLANNING_COLUMNS",
    "write_inventory_tables",
    "write_rows",
    "write_sensitivity_tables",
    "budget_dataset",
    "plot_dataset",
    "accuracy_dataset",
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
        values = [ds[c].values for c in columns]  # once: indexing a Dataset per cell is slow
        for i, label in enumerate(ds[dim].values):
            writer.writerow([label, *(_cell(v[i]) for v in values)])


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


BUDGET_SOURCES = (
    "allometry",  # first, as the table has always listed it
    *(source for source in INDEPENDENT_SOURCES if source != "allometry"),
    *SHARED_SOURCES,
    "sampling",
    "carbon_fraction",
    "root_shoot",
)


def write_inventory_tables(out: Path, data, posteriors, budget, strata) -> xr.Dataset:
    """Error budget, each tree's wood density and each plot's AGB (inventory runs only)."""
    budget_ds = budget_dataset(budget, strata)
    write_csv(
        budget_ds, "stratum", list(budget_ds.data_vars), out / "tables" / "biomass_error_budget.csv"
    )
    inv = posteriors.plots.inventory
    tree_wd = xr.Dataset(
        {
            "plot_id": ("tree_id", data.trees["plot_id"]),
            "genus": ("tree_id", data.trees["genus"]),
            "source": ("tree_id", inv.wood_density_source),
            "wood_density": ("tree_id", inv.wood_density),
            "wood_density_sd": ("tree_id", inv.wood_density_sd),
        },
        coords={"tree_id": data.trees["tree_id"]},
    )
    write_csv(tree_wd, "tree_id", list(tree_wd.data_vars), out / "tables" / "tree_wood_density.csv")
    plot_ds = plot_dataset(posteriors.plots)
    write_csv(plot_ds, "plot_id", list(plot_ds.data_vars), out / "tables" / "plot_agb.csv")
    # design-based (Cochran) stratum means of the plots' AGB beside the model's posterior
    design = biomass.design_based_means(strata, inv.plot_stratum, posteriors.plots.mean)
    agb = flat_draws(posteriors.trees["biomass"], "agb_mg_ha")
    lo, hi = np.quantile(agb, [0.05, 0.95], axis=0)
    rows = [
        {
            "stratum": name,
            "n_plots": int(design["n"][i]),
            "design_mean_mg_ha": float(design["mean"][i]),
            "design_se_mg_ha": float(design["se"][i]),
            "posterior_mean_mg_ha": float(agb[:, i].mean()),
            "posterior_sd_mg_ha": float(agb[:, i].std(ddof=1)),
            "posterior_q05_mg_ha": float(lo[i]),
            "posterior_q95_mg_ha": float(hi[i]),
        }
        for i, name in enumerate(strata)
    ]
    write_rows(out / "tables" / "biomass_design_based.csv", list(rows[0]), rows)
    return budget_ds


def write_rows(path: Path, columns, rows: list[dict]) -> None:
    """A CSV of dict rows in ``columns`` order; numbers at full (repr) precision."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(list(columns))
        for r in rows:
            writer.writerow([_row_cell(r[c]) for c in columns])


def _row_cell(value) -> str:
    if isinstance(value, bool | int | np.integer | str | np.str_):
        return str(value)
    return repr(float(value))


def budget_dataset(budget: dict[str, np.ndarray], strata: list[str]) -> xr.Dataset:
    """Variance shares (%) per stratum, and the total relative SD (%)."""
    total = budget["total"]
    data = {f"{k}_pct": ("stratum", 100 * budget[k] / total) for k in BUDGET_SOURCES}
    for k in ("independent", "shared"):
        if k in budget:
            data[f"{k}_pct"] = ("stratum", 100 * budget[k] / total)
    if "height_model_choice" in budget:
        # model-choice spread across the candidate H-D forms (relative SD, not in the total)
        data["height_model_choice_rsd_pct"] = (
            "stratum",
            100 * np.sqrt(budget["height_model_choice"]),
        )
    data["relative_sd_pct"] = ("stratum", 100 * np.sqrt(total))
    return xr.Dataset(data, coords={"stratum": strata})


def plot_dataset(plots) -> xr.Dataset:
    inv = plots.inventory
    lo, hi = np.quantile(plots.draws, [0.025, 0.975], axis=1)
    return xr.Dataset(
        {
            "agb_mean_mg_ha": ("plot_id", plots.mean),
            "agb_sd_mg_ha": ("plot_id", plots.sd),
            "agb_q025_mg_ha": ("plot_id", lo),
            "agb_q975_mg_ha": ("plot_id", hi),
            "n_trees": ("plot_id", np.bincount(inv.tree_plot, minlength=inv.n_plots).astype(float)),
        },
        coords={"plot_id": inv.plot_id, "stratum": ("plot_id", inv.plot_stratum)},
    )


def accuracy_dataset(data: RunData) -> xr.Dataset:
    """Per-year accuracy assessment of the loss map (stratified estimator).

    Beside the design-based estimate, the model-based loss with each stratum's
    proportion pooled across years (:func:`models.map_accuracy.pooled_loss_estimates`):
    ``pooled_loss_ha`` and ``pooled_loss_se_ha``.
    """
    est = data.accuracy
    years = data.deforestation["year"]
    pooled = pooled_loss_estimates(
        [list(e.strata) for e in est], [e.mapped_area for e in est], [e.counts for e in est]
    )

    def col(f):
        return ("year", np.array([f(e) for e in est], dtype=float))

    return xr.Dataset(
        {
            "mapped_loss_ha": col(lambda e: e.mapped("loss")),
            "loss_ha": col(lambda e: e.area[0]),
            "loss_se_ha": col(lambda e: e.area_se[0]),
            "loss_ci_low_ha": col(lambda e: e.area_ci[0, 0]),
            "loss_ci_high_ha": col(lambda e: e.area_ci[0, 1]),
            "users_accuracy_loss": col(lambda e: e.users_accuracy[0]),
            "users_accuracy_loss_se": col(lambda e: e.users_accuracy_se[0]),
            "producers_accuracy_loss": col(lambda e: e.producers_accuracy[0]),
            "producers_accuracy_loss_se": col(lambda e: e.producers_accuracy_se[0]),
            "overall_accuracy": col(lambda e: e.overall_accuracy),
            "overall_accuracy_se": col(lambda e: e.overall_accuracy_se),
            "pooled_loss_ha": ("year", pooled["loss_ha"]),
            "pooled_loss_se_ha": ("year", pooled["loss_se_ha"]),
        },
        coords={"year": years},
        attrs={"pooled_design_strata": ", ".join(pooled["design_strata"])},
    )


#: Columns of ``tables/sensitivity.csv`` and ``tables/planning.csv``.
SENSITIVITY_COLUMNS = ("label", "s1", "s1_conf", "st", "st_conf", "u_only_pct", "u_fixed_pct")

PLANNING_COLUMNS = (
    "lever",
    "added",
    "ner_mean",
    "uncertainty_pct",
    "uncertainty_pct_mcse",
    "deduction_fraction",
    "uncertainty_deduction",
    "credits",
    "credits_gained",
    "removes_deduction",
)


def write_sensitivity_tables(out: Path, result) -> None:
    """``tables/sensitivity.csv`` (Sobol indices) and ``tables/planning.csv``.

    Parameters
    ----------
    out : Path
        The run's output directory.
    result : simulator.analysis.sensitivity.SensitivityResult
    """
    write_csv(
        result.indices, "group", list(SENSITIVITY_COLUMNS), out / "tables" / "sensitivity.csv"
    )
    plan = xr.Dataset(
        {c: ("row", np.array([r[c] for r in result.planning])) for c in PLANNING_COLUMNS},
        coords={"row": np.arange(len(result.planning))},
    )
    write_csv(plan, "row", list(PLANNING_COLUMNS), out / "tables" / "planning.csv")
