"""``reddsim account``: the accounting of Monte Carlo draws simulated elsewhere."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from simulator.cli.common import app, fail, out
from simulator.errors import ConfigError, ReddsimError

__all__ = ["account"]


def _risk(text: str | None) -> tuple[float, float, float] | None:
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ConfigError(
            f"--risk {text!r}: give three numbers internal,external,natural (e.g. 8,4,2.5)"
        )
    return values


@app.command("account")
def account(
    draws: Annotated[
        Path,
        typer.Argument(
            help="Draws in long form: period (2016 or 2016-2020), draw, ner, optional gross."
        ),
    ],
    standard: Annotated[
        str, typer.Option("--standard", help="The standard that leads, e.g. VCS-MR-4.4.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write (new).")],
    buffer_pct: Annotated[
        float | None,
        typer.Option("--buffer-pct", help="Non-permanence risk rating (%), 12 to 60."),
    ] = None,
    risk: Annotated[
        str | None,
        typer.Option(
            "--risk",
            help="AFOLU Non-Permanence Risk Tool v4.2 category scores: internal,external,natural.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Skip compiling the PDF.")] = False,
) -> None:
    """Account draws simulated elsewhere: every standard per period, side by side."""
    from simulator.orchestration.account import account_draws, write_draws_account
    from simulator.report.account import account_json

    try:
        result = account_draws(draws, standard, buffer_pct, _risk(risk))
        write_draws_account(result, out_dir, pdf=not no_pdf)
    except ReddsimError as e:
        fail(e)
    doc = account_json(result)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return
    table = Table(
        title=f"Credits per period (tCO2e), buffer {result.buffer_pct:g}%, "
        f"{result.draws.n_draws:,} draws",
        title_justify="left",
    )
    for col in ("standard", "period", "U", "deducted", "deduction", "buffer", "credits"):
        table.add_column(col, justify="left" if col in ("standard", "period") else "right")
    for key, acc in doc["standards"].items():
        for r in acc["periods"]:
            u = r["uncertainty_pct"]
            f = r["deduction_fraction"]
            table.add_row(
                key,
                r["period"],
                "–" if u is None else f"{u:.1f}%",
                "–" if f is None else f"{100 * f:.2f}%",
                f"{r['uncertainty_deduction']:,.0f}",
                f"{r['buffer']:,.0f}",
                f"{r['credits']:,.0f}",
                end_section=r["period"] == "sum",
            )
    out.width = max(out.width, 104)
    out.print(table)
    for a in doc["assumptions"]:
        out.print(f"note: {a}", highlight=False, soft_wrap=True)
    out.print(f"written: {out_dir}", highlight=False, soft_wrap=True)
