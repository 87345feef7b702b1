"""``reddsim batch``: many runs, or one huge run, on a Dask cluster."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, TimeElapsedColumn
from rich.table import Table

from simulator.cli.common import (
    USER_ERRORS,
    app,
    catch_interrupts,
    configure_logging,
    err,
    fail,
    out,
    quiet_libraries,
)

__all__ = ["batch"]


@app.command()
def batch(
    spec_file: Annotated[Path, typer.Argument(help="Batch spec (TOML): runs, sweeps, a huge run.")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Batch output directory (default SPEC_DIR/out/batch-NAME)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Existing Dask scheduler, e.g. tcp://host:8786."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="LocalCluster worker processes (default: CPUs)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip members whose run is already complete.")
    ] = False,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="Sample every member's models, neither reading nor writing the posterior "
            "cache (as reddsim run --no-cache).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print batch.json on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log details on stderr.")
    ] = False,
) -> None:
    """Run a batch of runs on a Dask cluster (a LocalCluster unless --scheduler).

    Each member writes a normal run directory under OUT/<member>/; OUT gets
    batch_summary.csv and batch.json. Exit 1 if a member failed.
    """
    from simulator.orchestration.batch import (
        cleanup_interrupted,
        load_batch,
        local_numba_threads,
        open_client,
        run_batch,
    )

    configure_logging(verbose, quiet)
    try:
        spec = load_batch(spec_file)
    except USER_ERRORS as e:
        fail(e)
    out_dir = out_dir or spec.path.parent / "out" / f"batch-{spec.name}"
    import simulator.orchestration.pipeline  # noqa: F401  (PyMC sets its log level on import)

    quiet_libraries(verbose)
    catch_interrupts()
    try:
        with open_client(scheduler, workers) as client, _batch_progress(quiet, spec) as hooks:
            threads = None if scheduler else local_numba_threads(workers)
            result = run_batch(
                spec,
                out_dir,
                client,
                resume=resume,
                numba_threads=threads,
                posterior_cache=not no_cache,
                **hooks,
            )
    except USER_ERRORS as e:
        fail(e)
    except KeyboardInterrupt:
        cleanup_interrupted(spec, out_dir)
        err.print(
            "[bold red]interrupted:[/] partial runs removed; finished members kept "
            "(rerun with --resume)",
            highlight=False,
        )
        raise typer.Exit(code=130) from None
    if as_json:
        sys.stdout.write((out_dir / "batch.json").read_text(encoding="utf-8"))
    else:
        _print_batch_table(result)
    if result.failed:
        raise typer.Exit(code=1)


def _batch_progress(quiet: bool, spec):
    """Context giving run_batch's progress hooks: a rich bar over members (and chunks)."""
    from contextlib import contextmanager, nullcontext

    from rich.progress import BarColumn, MofNCompleteColumn

    if quiet:
        return nullcontext({})

    @contextmanager
    def bars():
        with Progress(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as bar:
            members = bar.add_task("runs", total=len(spec.members))
            chunks = None

            def on_member(r):
                bar.advance(members)
                bar.console.print(
                    f"[dim]▸ {escape(r.member.name)}: {escape(r.status)}[/]", highlight=False
                )

            def on_chunk(done, total):
                nonlocal chunks
                if chunks is None:
                    chunks = bar.add_task("huge-run chunks", total=total)
                bar.update(chunks, completed=done, total=total)

            def on_stage(stage):
                bar.console.print(f"[dim]▸ huge run: {escape(stage)}[/]", highlight=False)

            yield {"on_member": on_member, "on_chunk": on_chunk, "on_stage": on_stage}

    return bars()


def _print_batch_table(result) -> None:
    table = Table(
        title=f"Batch {result.batch.name}: NER over the crediting period (tCO2e)",
        title_justify="left",
    )
    for col in ("run", "status", "draws", "NER mean", "CI", "U", "deduction", "credits"):
        table.add_column(col, justify="left" if col in ("run", "status") else "right")
    for r in result.results:
        row = r.row
        if row["ner_mean"]:
            conf = round(100 * float(row["confidence"]))
            numbers = (
                f"{float(row['ner_mean']):,.0f}",
                f"{float(row['ner_ci_low']):,.0f} – {float(row['ner_ci_high']):,.0f} ({conf}%)",
                f"{float(row['uncertainty_pct']):.1f}%",
                f"{float(row['uncertainty_deduction']):,.0f}",
                f"{float(row['credits']):,.0f}",
            )
        else:
            numbers = ("",) * 5
        status = row["status"] if len(row["status"]) < 40 else row["status"][:39] + "…"
        table.add_row(escape(row["name"]), escape(status), f"{int(row['n_draws']):,}", *numbers)
    out.width = max(out.width, 140)
    out.print(table)
    out.print(f"summary: {result.out_dir / 'batch_summary.csv'}", highlight=False, soft_wrap=True)
