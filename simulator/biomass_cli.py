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

import csv
import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from models.allometry import HD_FORMS, HD_WEIGHTS
from models.inventory import (
    INDEPENDENT_SOURCES,
    SHARED_SOURCES,
    candidate_agb,
    plot_agb_draws,
    source_log_variances,
)
from simulator.data import SCHEMAS, read_table
from simulator.errors import DataError, OutputError, ReddsimError

__all__ = ["register", "run_biomass", "summary_rows", "BiomassResult"]

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


def _csv_text(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([r[h] if not isinstance(r[h], float) else f"{r[h]:.6g}" for h in header])
    return buf.getvalue()


def _write(out_dir: Path, result: BiomassResult) -> None:
    """Write the result files into a new directory, all or nothing."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputError(f"{out_dir}: exists and is not an empty directory; give a new --out")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".incomplete-{out_dir.name}-{os.getpid()}"
    try:
        tmp.mkdir()
        (tmp / "biomass.csv").write_text(_csv_text(SUMMARY_KEYS, result.rows), "utf-8")
        budget = [{"source": k, **v} for k, v in result.budget.items()]
        (tmp / "error_budget.csv").write_text(
            _csv_text(("source", "kind", "share_pct", "relative_sd_pct"), budget), "utf-8"
        )
        (tmp / "hd_candidates.csv").write_text(
            _csv_text(("hd_model", "total_mg", "chosen"), result.candidates), "utf-8"
        )
        (tmp / "biomass.json").write_text(_json(result), "utf-8")
        if out_dir.exists():
            out_dir.rmdir()
        tmp.rename(out_dir)
    except OSError as err:
        raise OutputError(f"{out_dir}: cannot write: {err}") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _json(result: BiomassResult) -> str:
    def finite(x):
        x = float(x)
        return x if np.isfinite(x) else None

    doc = json.loads(json.dumps(result.as_dict(), default=finite), parse_constant=lambda c: None)
    for v in doc["error_budget"].values():
        v["share_pct"] = finite(v["share_pct"]) if v["share_pct"] is not None else None
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def register(app: typer.Typer) -> None:
    """Add the ``biomass`` command to the ``reddsim`` app."""

    @app.command("biomass")
    def biomass(
        trees: Annotated[
            Path,
            typer.Argument(
                help="Tree table: plot_id, tree_id, dbh_cm; optional height_m, wood_density, "
                "wood_density_sd, genus, species, family, stratum."
            ),
        ],
        plots: Annotated[
            Path | None,
            typer.Option(
                "--plots",
                help="Plot table: plot_id, area_ha; optional stratum, subplot_area_ha, "
                "subplot_max_dbh_cm (without it, plot rows are Mg per plot).",
            ),
        ] = None,
        heights: Annotated[
            Path | None,
            typer.Option("--heights", help="Measured heights: dbh_cm, height_m (H-D model)."),
        ] = None,
        hd_model: Annotated[
            str,
            typer.Option("--hd-model", help="auto|log1|log2|log3|weibull|michaelis"),
        ] = "auto",
        hd_weights: Annotated[
            str, typer.Option("--hd-weights", help="none|d2h (weights of the H-D fit)")
        ] = "none",
        draws: Annotated[int, typer.Option("--draws", help="Monte Carlo iterations.")] = 1000,
        seed: Annotated[int, typer.Option("--seed", help="Seed.")] = 1,
        palm_model: Annotated[
            str,
            typer.Option(
                "--palm-model",
                help="goodman2013 (palm allometry for Arecaceae) or chave2014 (Eq. 4 for "
                "palms too, as BIOMASS).",
            ),
        ] = "goodman2013",
        out_dir: Annotated[
            Path | None, typer.Option("--out", help="Directory to write the tables to (new).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Tree-to-plot AGB Monte Carlo (as BIOMASS AGBmonteCarlo), with its error budget."""
        from simulator.cli import _fail, out

        try:
            if (
                out_dir is not None
                and out_dir.exists()
                and (not out_dir.is_dir() or any(out_dir.iterdir()))
            ):
                raise OutputError(
                    f"{out_dir}: exists and is not an empty directory; give a new --out"
                )
            result = run_biomass(
                trees, plots, heights, hd_model, hd_weights, draws, seed, palm_model
            )
            if out_dir is not None:
                _write(out_dir, result)
        except ReddsimError as e:
            _fail(e)
        if as_json:
            sys.stdout.write(_json(result))
            return
        from rich.table import Table

        table = Table(
            title=f"AGB ({result.unit} per plot; Mg in total), {draws:,} iterations",
            title_justify="left",
        )
        for k in SUMMARY_KEYS:
            table.add_column(k, justify="left" if k == "plot" else "right")
        for r in result.rows:
            table.add_row(r["plot"], *(f"{r[k]:,.2f}" for k in SUMMARY_KEYS[1:]))
        out.print(table)
        budget = Table(title="Error budget of the total (log scale)", title_justify="left")
        for col in ("source", "kind", "share %", "rel. SD %"):
            budget.add_column(col, justify="left" if col in ("source", "kind") else "right")
        for k, v in result.budget.items():
            share = "" if not np.isfinite(v["share_pct"]) else f"{v['share_pct']:.1f}"
            budget.add_row(k, v["kind"], share, f"{v['relative_sd_pct']:.2f}")
        out.print(budget)
        out.print(f"height models: {result.height_models}", highlight=False, soft_wrap=True)
        out.print(
            "H-D candidates (total Mg): "
            + ", ".join(f"{c['hd_model']} {c['total_mg']:,.1f}" for c in result.candidates),
            highlight=False,
            soft_wrap=True,
        )
        if out_dir is not None:
            out.print(f"wrote {out_dir}", highlight=False, soft_wrap=True)
