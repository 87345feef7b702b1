"""``reddsim biomass``: the tree-to-plot Monte Carlo on its own, as BIOMASS users run it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from simulator.cli.common import app, fail, out
from simulator.errors import OutputError, ReddsimError

__all__ = ["biomass"]


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
    import numpy as np

    from simulator.inference.trees import SUMMARY_KEYS, run_biomass
    from simulator.report.biomass import biomass_json, write_biomass

    try:
        if (
            out_dir is not None
            and out_dir.exists()
            and (not out_dir.is_dir() or any(out_dir.iterdir()))
        ):
            raise OutputError(f"{out_dir}: exists and is not an empty directory; give a new --out")
        result = run_biomass(trees, plots, heights, hd_model, hd_weights, draws, seed, palm_model)
        if out_dir is not None:
            write_biomass(out_dir, result)
    except ReddsimError as e:
        fail(e)
    if as_json:
        sys.stdout.write(biomass_json(result))
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
