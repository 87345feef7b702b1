"""``reddsim runs``: past runs with their key numbers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from simulator.cli.common import (
    app,
    err,
    json_text,
    out,
)
from simulator.errors import one_line

__all__ = ["list_runs"]


def _text(value: str) -> str:
    """A value from a run directory, shown as itself: no markup, no control characters."""
    return escape(one_line(value))


@app.command("runs")
def list_runs(
    path: Annotated[
        Path | None,
        typer.Argument(help="Where to look (default: runs/*/out/ under the current directory)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
) -> None:
    """List past runs with their key numbers, newest first."""
    from simulator.orchestration.runs import list_runs as find

    listing = find(path if path is not None else Path("runs"))
    if as_json:
        doc = {
            "runs": [r.as_dict() for r in listing.runs],
            "skipped": {"incomplete": listing.incomplete, "unreadable": listing.unreadable},
        }
        sys.stdout.write(json_text(doc))
    else:
        table = Table(
            title="Runs (tCO2e: an ex-ante run's total over its crediting period, "
            "a monitoring run's sum over its periods)",
            title_justify="left",
        )
        for col in (
            "run id",
            "kind",
            "date (UTC)",
            "standard",
            "N",
            "seed",
            "NER mean",
            "CI",
            "U",
            "credits",
            "gate",
        ):
            left = col in ("run id", "kind", "standard")
            table.add_column(col, justify="left" if left else "right")
        for r in listing.runs:
            level = f"{100 * r.confidence:.0f}% " if r.confidence is not None else ""
            # a monitoring run has no interval or U over all its periods, only per period
            per_period = r.run_kind == "monitoring"
            ci = f"{level}{r.ner_ci_low:,.0f} – {r.ner_ci_high:,.0f}"
            table.add_row(
                _text(r.run_id),
                _text(r.run_kind),
                _text(r.created_utc.replace("T", " ").removesuffix("+00:00")),
                _text(r.standard),
                f"{r.n_draws:,}",
                str(r.seed),
                f"{r.ner_mean:,.0f}",
                "per period" if per_period else ci,
                "per period" if per_period else f"{r.uncertainty_pct:.1f}%",
                f"{r.credits:,.0f}",
                _text(r.gate),
            )
        out.width = max(out.width, 180)
        out.print(table)
    if listing.skipped or not listing.runs:
        err.print(
            f"{len(listing.runs)} runs; skipped {listing.skipped} "
            f"({len(listing.incomplete)} incomplete, {len(listing.unreadable)} unreadable)",
            highlight=False,
        )
    for where, why in listing.unreadable.items():
        err.print(f"[dim]unreadable:[/] {_text(where)}: {_text(why)}", highlight=False)
