"""``reddsim import``: a project from another tool's files into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from simulator.cli.common import (
    USER_ERRORS,
    app,
    err,
    fail,
    out,
)
from simulator.config import load_config, load_run

__all__ = ["import_app", "import_mocaredd"]


import_app = typer.Typer(
    help="Import a project from another tool's files into a run directory.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")


def _area(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected CLASS=HECTARES, e.g. open=120000") from None


@import_app.command("mocaredd")
def import_mocaredd(
    workbook: Annotated[Path, typer.Argument(help="The mocaredd .xlsx workbook.")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Run directory to create (must not exist).")
    ],
    area: Annotated[
        list[str] | None,
        typer.Option(
            "--area",
            help="CLASS=HA: forest area of a deforested land-use class at the crediting start "
            "(repeat for each; not in a mocaredd workbook).",
        ),
    ] = None,
    leakage_belt: Annotated[
        Path | None,
        typer.Option("--leakage-belt", help="leakage_belt.csv (mocaredd has no leakage data)."),
    ] = None,
    buffer_pct: Annotated[
        float | None, typer.Option("--buffer-pct", help="Non-permanence risk rating (%).")
    ] = None,
    standard: Annotated[str, typer.Option("--standard")] = "VM0007-1.8",
    start_year: Annotated[
        int | None,
        typer.Option("--start-year", help="First crediting year (default: after the last period)."),
    ] = None,
    years: Annotated[int, typer.Option("--years", help="Crediting years.")] = 10,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed (default user_inputs.ran_seed).")
    ] = None,
) -> None:
    """Write a run directory from a FAO mocaredd workbook.

    Without --area, --leakage-belt and --buffer-pct: a mocaredd-mode run (the workbook
    and `[accounting] mode = "mocaredd"`), whose `reddsim run` reports the REF, MON and ER
    mocaredd computes. With all three: reddsim's simulation of the project (run.toml + CSVs).
    """
    from simulator.data.mocaredd import import_mocaredd as run_import
    from simulator.data.mocaredd import import_mocaredd_mode

    reddsim_only = {
        "--area": bool(area),
        "--leakage-belt": leakage_belt is not None,
        "--buffer-pct": buffer_pct is not None,
    }
    try:
        if not any(reddsim_only.values()):
            result = import_mocaredd_mode(workbook, out_dir, seed)
            load_run(result.run_dir)  # the run.toml it wrote is valid
        else:
            missing = [k for k, given in reddsim_only.items() if not given]
            if missing:
                raise typer.BadParameter(
                    f"give {', '.join(missing)} too (reddsim's simulation needs forest areas, "
                    "a leakage belt and a buffer), or none of them for mocaredd mode"
                )
            areas = dict(_area(a) for a in area)
            result = run_import(
                workbook,
                out_dir,
                areas,
                leakage_belt,
                buffer_pct,
                standard,
                start_year,
                years,
                seed,
            )
            load_config(result.run_dir)  # the run.toml it wrote is valid
    except USER_ERRORS as e:
        fail(e)
    if not result.strata:
        out.print(f"imported: {result.run_dir} (mocaredd mode)", highlight=False, soft_wrap=True)
        for note in result.notes:
            err.print(f"[dim]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
        err.print(f"next: reddsim run {result.run_dir}", highlight=False, soft_wrap=True)
        return
    out.print(
        f"imported: {result.run_dir} ({len(result.strata)} strata: {', '.join(result.strata)})",
        highlight=False,
        soft_wrap=True,
    )
    for note in result.notes:
        err.print(f"[dim]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    err.print(
        f"next: reddsim check {result.run_dir}; review the REVIEW lines of its run.toml",
        highlight=False,
        soft_wrap=True,
    )
