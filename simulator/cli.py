"""The ``reddsim`` command line: thin commands that parse, call the library, print.

Results go to stdout (a table, or JSON with ``--json``); progress and logs go to
stderr. A :class:`~simulator.errors.ReddsimError` becomes one line on stderr and
exit code 2.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simulator.config import load_config
from simulator.errors import ReddsimError

__all__ = ["app", "main"]

app = typer.Typer(
    help="Monte Carlo uncertainty simulator for REDD+ forest carbon credits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

RunArg = Annotated[
    Path, typer.Argument(help="Run directory (holding run.toml) or the TOML file itself.")
]


def _fail(error: Exception) -> None:
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    for name in ("simulator", "models"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler] if verbose else []
        lg.setLevel(level)
    _quiet_libraries(verbose)


def _quiet_libraries(verbose: bool) -> None:
    # PyMC announces every sampler start (and sets its logger's level when imported, so
    # this runs after the import); keep stderr for our own progress.
    for name in ("pymc", "pytensor", "arviz"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.ERROR)


@app.command()
def check(run: RunArg) -> None:
    """Validate a run's configuration and data files (no sampling)."""
    from simulator.data import load_data

    try:
        spec = load_config(run)
        data = load_data(spec)
    except ReddsimError as e:
        _fail(e)
    n_plots = len(data.plots["plot_id"])
    years = data.deforestation["year"]
    out.print(
        f"ok: {spec.path} ({len(spec.config.project.strata)} strata, {n_plots} plots, "
        f"{len(data.trees['tree_id']):,} trees, "
        f"reference years {years[0]}-{years[-1]}, {len(data.leakage_belt['year'])} belt years)",
        highlight=False,
        soft_wrap=True,
    )


def _totals(outcome) -> dict:
    from simulator.accounting import SIDE_BY_SIDE
    from simulator.outputs import period_records

    s, side = outcome.summary, outcome.accounts.side_by_side
    return {
        "out_dir": str(outcome.out_dir),
        "appendix": str(outcome.appendix),
        "standard": s.attrs["standard"],
        "confidence": s.attrs["confidence"],
        "n_draws": s.attrs["n_draws"],
        "seed": outcome.manifest["seed"],
        "periods": period_records(s),
        "standards": {
            str(key): period_records(side.sel(standard=key), ("ner_mean", *SIDE_BY_SIDE))
            for key in side.standard.values
        },
    }


def _print_table(totals: dict) -> None:
    conf = round(100 * totals["confidence"])
    table = Table(
        title=f"Net emission reductions (tCO2e), {totals['standard']}, {totals['n_draws']:,} draws",
        title_justify="left",
    )
    for col in ("period", "NER mean", f"{conf}% CI", "U", "deduction", "buffer", "credits"):
        table.add_column(col, justify="left" if col == "period" else "right")
    for r in totals["periods"]:
        table.add_row(
            r["period"],
            f"{r['ner_mean']:,.0f}",
            f"{r['ner_ci_low']:,.0f} – {r['ner_ci_high']:,.0f}",
            f"{r['uncertainty_pct']:.1f}%",
            f"{r['uncertainty_deduction']:,.0f}",
            f"{r['buffer']:,.0f}",
            f"{r['credits']:,.0f}",
            end_section=r["period"] == totals["periods"][-2]["period"],
        )
    # Pipes and CI logs default to 80 columns, which would wrap the interval column.
    out.width = max(out.width, 104)
    out.print(table)
    out.print(f"appendix: {totals['appendix']}", highlight=False, soft_wrap=True)


@app.command()
def run(
    run: RunArg,
    draws: Annotated[
        int | None,
        typer.Option("--draws", help="Simulated draws (overrides \\[simulation].n_draws)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed (overrides \\[simulation].seed).")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Parent directory of the run output (default RUN/out)."),
    ] = None,
    mc_tolerance: Annotated[
        float | None,
        typer.Option(
            "--mc-tolerance",
            help="Double the draws until the MC error of every CI bound is at most this "
            "fraction of the mean (overrides \\[simulation].mc_tolerance), e.g. 0.001.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the totals as JSON on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log details on stderr.")
    ] = False,
) -> None:
    """Sample the models, simulate, account and write the appendix.

    Threads follow NUMBA_NUM_THREADS; results do not depend on the thread count.
    """
    _configure_logging(verbose, quiet)
    try:
        spec = load_config(run).with_overrides(n_draws=draws, seed=seed, mc_tolerance=mc_tolerance)
    except ReddsimError as e:
        _fail(e)
    from simulator.pipeline import run as execute

    _quiet_libraries(verbose)
    # SIGINT and SIGTERM (Ctrl-C, a scheduler, `kill`) unwind the run so its partial output is
    # removed; set explicitly because a shell's background jobs start with SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    try:
        if quiet:
            outcome = execute(spec, out_dir)
        else:
            with err.status("starting") as status:

                def progress(stage: str) -> None:
                    status.update(f"{stage} …")
                    err.print(f"[dim]▸ {stage}[/]", highlight=False)

                outcome = execute(spec, out_dir, progress=progress)
    except ReddsimError as e:
        _fail(e)
    except KeyboardInterrupt:
        err.print("[bold red]interrupted:[/] no output written", highlight=False)
        raise typer.Exit(code=130) from None
    totals = _totals(outcome)
    if as_json:
        sys.stdout.write(json.dumps(totals, indent=2, allow_nan=False, default=_finite) + "\n")
    else:
        _print_table(totals)


@app.command()
def verify(
    run_dir: Annotated[Path, typer.Argument(help="A run's output directory (with manifest.json).")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Re-run a finished run from its manifest and check every table is identical."""
    _configure_logging(False, quiet)
    import simulator.pipeline  # noqa: F401  (PyMC sets its log level on import)
    from simulator.verify import verify as reproduce

    _quiet_libraries(False)
    try:
        progress = (
            None if quiet else (lambda stage: err.print(f"[dim]▸ {stage}[/]", highlight=False))
        )
        result = reproduce(run_dir, progress=progress)
    except ReddsimError as e:
        _fail(e)
    if result.identical:
        out.print(
            f"identical: {len(result.compared)} tables of {run_dir} reproduced bit for bit",
            highlight=False,
            soft_wrap=True,
        )
        return
    out.print(
        f"DIFFERENT: {', '.join(result.differing)} of {run_dir}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(code=1)


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
    from simulator.batch import (
        cleanup_interrupted,
        load_batch,
        local_numba_threads,
        open_client,
        run_batch,
    )

    _configure_logging(verbose, quiet)
    try:
        spec = load_batch(spec_file)
    except ReddsimError as e:
        _fail(e)
    out_dir = out_dir or spec.path.parent / "out" / f"batch-{spec.name}"
    import simulator.pipeline  # noqa: F401  (PyMC sets its log level on import)

    _quiet_libraries(verbose)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    try:
        with open_client(scheduler, workers) as client, _batch_progress(quiet, spec) as hooks:
            threads = None if scheduler else local_numba_threads(workers)
            result = run_batch(spec, out_dir, client, resume=resume, numba_threads=threads, **hooks)
    except ReddsimError as e:
        _fail(e)
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

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

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
                bar.console.print(f"[dim]▸ {r.member.name}: {r.status}[/]", highlight=False)

            def on_chunk(done, total):
                nonlocal chunks
                if chunks is None:
                    chunks = bar.add_task("huge-run chunks", total=total)
                bar.update(chunks, completed=done, total=total)

            def on_stage(stage):
                bar.console.print(f"[dim]▸ huge run: {stage}[/]", highlight=False)

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
        table.add_row(row["name"], status, f"{int(row['n_draws']):,}", *numbers)
    out.width = max(out.width, 140)
    out.print(table)
    out.print(f"summary: {result.out_dir / 'batch_summary.csv'}", highlight=False, soft_wrap=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _finite(x):  # json default for numpy scalars
    value = float(x)
    return value if math.isfinite(value) else None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
