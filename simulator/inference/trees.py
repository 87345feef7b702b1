"""``reddsim biomass``: the tree-to-plot Monte Carlo on its own, as BIOMASS users run it.

Reads a tree table (and optionally its plots and a separate file of measured
heights), assigns wood densities from the Global Wood Density Database, fits the
height-diameter models, propagates every error source (:mod:`models.inventory`)
and reports, per plot (Mg/ha; Mg per plot without a plot table) and for all plots
together (total Mg), the Monte Carlo mean, median, SD and 95% interval, the error
budget of the total (shared and independent sources) and the total under every
candidate H-D form. The pipeline's biomass stage uses the same functions
(:func:`simulator.inference.inventory_from_tables`,
:func:`models.inventory.plot_agb_draws`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.allometry import HD_FORMS, HD_WEIGHTS
from models.inventory import (
    INDEPENDENT_SOURCES,
    SHARED_SOURCES,
    candidate_agb,
    plot_agb_draws,
    source_log_variances,
)
from simulator.data import SCHEMAS, read_table
from simulator.errors import DataError

__all__ = ["SUMMARY_KEYS", "summary_rows", "BiomassResult", "run_biomass"]


SUMMARY_KEYS = ("plot", "mean", "median", "sd", "q2.5", "q97.5")


def summary_rows(labels, draws: np.ndarray) -> list[dict]:
    """Mean, median, SD (ddof 1) and 2.5/97.5% quantiles of each row of ``draws``."""
    rows = []
    for label, d in zip(labels, np.atleast_2d(draws), strict=True):
        q = np.quantile(d, [0.025, 0.5, 0.975])
        rows.append(
            {
                "plot": str(label),
                "mean": float(d.mean()),
                "median": float(q[1]),
                "sd": float(d.std(ddof=1)),
                "q2.5": float(q[0]),
                "q97.5": float(q[2]),
            }
        )
    return rows


class BiomassResult:
    """What ``reddsim biomass`` reports (rows, error budget, H-D candidates)."""

    def __init__(self, rows, unit, budget, candidates, height_models, wood_density, n, seed):
        self.rows = rows
        self.unit = unit
        self.budget = budget
        self.candidates = candidates
        self.height_models = height_models
        self.wood_density = wood_density
        self.n = n
        self.seed = seed

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "plot_unit": self.unit,
            "total_unit": "Mg",
            "error_budget": self.budget,
            "hd_candidates": self.candidates,
            "height_models": self.height_models,
            "wood_density_sources": self.wood_density,
            "draws": self.n,
            "seed": self.seed,
        }


def _check_ids(path: Path, ids: list[str], what: str) -> None:
    seen: dict[str, int] = {}
    for lineno, i in enumerate(ids, start=2):
        if i in seen:
            raise DataError(
                f"{path}: row {lineno}, column {what} = {i!r}: duplicated (also row {seen[i]})"
            )
        seen[i] = lineno


def _load(trees_path: Path, plots_path: Path | None, heights_path: Path | None):
    trees = read_table(trees_path, SCHEMAS["biomass_trees"])
    _check_ids(trees_path, trees["tree_id"].tolist(), "tree_id")
    tree_plots = list(dict.fromkeys(trees["plot_id"].tolist()))
    if plots_path is not None:
        raw = read_table(plots_path, SCHEMAS["biomass_plots"])
        _check_ids(plots_path, raw["plot_id"].tolist(), "plot_id")
        known = set(raw["plot_id"].tolist())
        for lineno, pid in enumerate(trees["plot_id"].tolist(), start=2):
            if pid not in known:
                raise DataError(
                    f"{trees_path}: row {lineno}, column plot_id = {pid!r}: not a plot of "
                    f"{plots_path}"
                )
        empty = [p for p in raw["plot_id"].tolist() if p not in set(tree_plots)]
        if empty:
            raise DataError(f"{trees_path}: column plot_id: no trees for plot {', '.join(empty)}")
        area = raw["area_ha"]
        sub = np.where(np.isfinite(raw["subplot_area_ha"]), raw["subplot_area_ha"], area)
        for lineno, (a, s) in enumerate(zip(area.tolist(), sub.tolist(), strict=True), start=2):
            if s > a:
                raise DataError(
                    f"{plots_path}: row {lineno}, column subplot_area_ha = {s:g}: larger than "
                    f"area_ha ({a:g})"
                )
        stratum = np.where(raw["stratum"] == "", "all", raw["stratum"])
        plots = {
            "plot_id": raw["plot_id"],
            "stratum": stratum,
            "area_ha": area,
            "subplot_area_ha": sub,
            "subplot_max_dbh_cm": np.nan_to_num(raw["subplot_max_dbh_cm"], nan=0.0),
        }
        unit = "Mg/ha"
    else:
        strata = {}
        for pid, s in zip(trees["plot_id"].tolist(), trees["stratum"].tolist(), strict=True):
            strata.setdefault(pid, s or "all")
        n = len(tree_plots)
        plots = {
            "plot_id": np.array(tree_plots),
            "stratum": np.array([strata[p] for p in tree_plots]),
            "area_ha": np.ones(n),  # no plot table: plot rows are Mg per plot
            "subplot_area_ha": np.ones(n),
            "subplot_max_dbh_cm": np.zeros(n),
        }
        unit = "Mg"
    heights = None
    if heights_path is not None:
        hd = read_table(heights_path, SCHEMAS["heights"])
        heights = (hd["dbh_cm"], hd["height_m"])
    return trees, plots, unit, heights


def run_biomass(
    trees_path: Path,
    plots_path: Path | None = None,
    heights_path: Path | None = None,
    hd_model: str = "auto",
    hd_weights: str = "none",
    n: int = 1000,
    seed: int = 1,
    palm_model: str = "goodman2013",
) -> BiomassResult:
    """Run the tree-to-plot Monte Carlo on CSV files (see the module docstring).

    Raises
    ------
    DataError
        Bad input (file, row, column and value named).
    """
    from simulator.inference import inventory_from_tables

    if hd_model != "auto" and hd_model not in HD_FORMS:
        raise DataError(f"--hd-model = {hd_model!r}: must be auto or one of {', '.join(HD_FORMS)}")
    if hd_weights not in HD_WEIGHTS:
        raise DataError(f"--hd-weights = {hd_weights!r}: must be one of {', '.join(HD_WEIGHTS)}")
    if palm_model not in ("goodman2013", "chave2014"):
        raise DataError(f"--palm-model = {palm_model!r}: must be goodman2013 or chave2014")
    if not 10 <= n <= 100_000:
        raise DataError(f"--draws = {n}: must be 10-100000")
    trees, plots, unit, heights = _load(trees_path, plots_path, heights_path)
    try:
        inv = inventory_from_tables(plots, trees, palm_model=palm_model)
    except ValueError as err:
        raise DataError(f"{trees_path}: {err}") from err
    try:
        hd = inv.height_model(hd_model, hd_weights, heights)
    except ValueError as err:
        raise DataError(f"{heights_path or trees_path}: {err}") from err
    draws = plot_agb_draws(inv, hd, n, seed)
    area = np.asarray(plots["area_ha"], dtype=float)

    def total(d):
        return (d * area[:, None]).sum(axis=0)

    rows = summary_rows(plots["plot_id"].tolist(), draws)
    rows += summary_rows(["total"], total(draws)[None, :])
    variances = source_log_variances(inv, hd, n, seed + 1, total)
    var_total = sum(float(v) for v in variances.values())
    budget = {
        name: {
            "kind": "shared" if name in SHARED_SOURCES else "independent",
            "share_pct": 100 * float(v) / var_total,
            "relative_sd_pct": 100 * float(np.sqrt(v)),
        }
        for name, v in variances.items()
    }
    for kind, names in (("independent", INDEPENDENT_SOURCES), ("shared", SHARED_SOURCES)):
        v = sum(float(variances[k]) for k in names)
        budget[kind] = {
            "kind": "subtotal",
            "share_pct": 100 * v / var_total,
            "relative_sd_pct": 100 * np.sqrt(v),
        }
    budget["total"] = {
        "kind": "total",
        "share_pct": 100.0,
        "relative_sd_pct": 100 * np.sqrt(var_total),
    }
    cands = {f: float((v * area).sum()) for f, v in candidate_agb(inv, hd).items()}
    chosen = {m.form for m in hd.models}
    candidates = [{"hd_model": f, "total_mg": v, "chosen": f in chosen} for f, v in cands.items()]
    if len(cands) > 1:
        logs = np.log(list(cands.values()))
        budget["height_model_choice"] = {
            "kind": "reported, not in the total",
            "share_pct": float("nan"),
            "relative_sd_pct": 100 * float(logs.std(ddof=1)),
        }
    src, cnt = np.unique(inv.wood_density_source, return_counts=True)
    wd = {str(s): int(c) for s, c in zip(src, cnt, strict=True)}
    return BiomassResult(rows, unit, budget, candidates, hd.describe(), wd, n, seed)
