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
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
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
    handler = RichHandler(console=err, show_time=False, show_path=False, markup=False)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
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
    years = data.deforestation["year"]
    biomass = (
        f"{len(data.plots['plot_id'])} plots, {len(data.trees['tree_id']):,} trees"
        if data.carbon_stocks is None
        else f"{len(data.carbon_stocks['pool'])} carbon stocks"
    )
    out.print(
        f"ok: {spec.path} ({len(spec.config.project.strata)} strata, {biomass}, "
        f"reference years {years[0]}-{years[-1]}, {len(data.leakage_belt['year'])} belt years)",
        highlight=False,
        soft_wrap=True,
    )


class _Stages:
    """Progress of a run's stages on stderr: a spinner and elapsed time per stage.

    On a terminal each stage gets a live line (spinner while it runs, its time when
    done); elsewhere (a pipe, a CI log) one plain line per stage as it starts.
    """

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.live = not quiet and err.is_terminal
        self.progress = (
            Progress(
                SpinnerColumn(finished_text="[green]✓[/]"),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=err,
            )
            if self.live
            else None
        )
        self.task = None

    def __enter__(self):
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        self._finish()
        if self.progress is not None:
            self.progress.stop()

    def _finish(self):
        if self.task is not None:
            self.progress.update(self.task, total=1, completed=1)
            self.progress.stop_task(self.task)

    def __call__(self, stage: str) -> None:
        if self.quiet:
            return
        if self.progress is None:
            err.print(f"[dim]▸ {escape(stage)}[/]", highlight=False)
            return
        self._finish()
        self.task = self.progress.add_task(escape(stage), total=None)


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
        typer.Option(
            "--out",
            help="The run's output directory itself (default RUN/out/<run-id>, a new one "
            "every run). An existing run there is replaced only with --force.",
        ),
    ] = None,
    mc_tolerance: Annotated[
        float | None,
        typer.Option(
            "--mc-tolerance",
            help="Double the draws until the MC error of every CI bound is at most this "
            "fraction of the mean (overrides \\[simulation].mc_tolerance), e.g. 0.001.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace a complete run at --out, once the new one is complete.",
        ),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Keep each finished chunk of the simulation (RUN/out/.chunks/) and reuse "
            "those an interrupted run with the same configuration kept.",
        ),
    ] = False,
    allow_unconverged: Annotated[
        bool,
        typer.Option(
            "--allow-unconverged",
            help="Write the appendix even if the sampler or Monte Carlo gate fails (as "
            "\\[sampler].allow_failed_diagnostics = true); its first page says so.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the totals as JSON on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log details on stderr.")
    ] = False,
) -> None:
    """Sample the models, simulate, account and write the appendix.

    The appendix is written only if the sampler diagnostics pass (R-hat <= 1.01,
    bulk and tail ESS >= 400, no divergences) and the Monte Carlo error of each
    bound of the total-NER interval is below 0.1% of its mean, unless
    --allow-unconverged. Threads follow NUMBA_NUM_THREADS; results do not depend
    on the thread count.
    """
    _configure_logging(verbose, quiet)
    try:
        spec = load_config(run).with_overrides(n_draws=draws, seed=seed, mc_tolerance=mc_tolerance)
        if out_dir is not None:
            from simulator.pipeline import check_output_dir

            check_output_dir(out_dir, force)  # before minutes of sampling
    except ReddsimError as e:
        _fail(e)
    from simulator.pipeline import run as execute

    _quiet_libraries(verbose)
    # SIGINT and SIGTERM (Ctrl-C, a scheduler, `kill`) unwind the run so its partial output is
    # removed; set explicitly because a shell's background jobs start with SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    try:
        with _Stages(quiet) as stages:
            outcome = execute(
                spec,
                progress=stages,
                out_dir=out_dir,
                force=force,
                allow_unconverged=allow_unconverged,
                resume=resume,
            )
    except ReddsimError as e:
        _fail(e)
    except KeyboardInterrupt:
        err.print("[bold red]interrupted:[/] no output written", highlight=False)
        raise typer.Exit(code=130) from None
    gates = outcome.manifest["gates"]
    if gates["override"] and not gates["passed"]:
        err.print(
            f"[bold yellow]warning:[/] gates failed and were overridden by {gates['override']}; "
            "the appendix says the results are unconverged",
            highlight=False,
            soft_wrap=True,
        )
    totals = _totals(outcome)
    if as_json:
        sys.stdout.write(json.dumps(totals, indent=2, allow_nan=False, default=_finite) + "\n")
    else:
        _print_table(totals)


@app.command()
def report(
    run_dir: Annotated[
        Path, typer.Argument(help="A run's output directory (with appendix.json and .typ).")
    ],
) -> None:
    """Rebuild a run's appendix.pdf from its stored appendix.typ and appendix.json.

    Nothing is re-run: the numbers, tables and figures are the run's own.
    """
    from simulator.report import rebuild_appendix

    try:
        pdf = rebuild_appendix(run_dir)
    except ReddsimError as e:
        _fail(e)
    out.print(f"appendix: {pdf}", highlight=False, soft_wrap=True)


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
            None
            if quiet
            else (lambda stage: err.print(f"[dim]▸ {escape(stage)}[/]", highlight=False))
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
        list[str],
        typer.Option(
            "--area",
            help="CLASS=HA: forest area of a deforested land-use class at the crediting start "
            "(repeat for each; not in a mocaredd workbook).",
        ),
    ],
    leakage_belt: Annotated[
        Path,
        typer.Option("--leakage-belt", help="leakage_belt.csv (mocaredd has no leakage data)."),
    ],
    buffer_pct: Annotated[
        float, typer.Option("--buffer-pct", help="Non-permanence risk rating (%).")
    ],
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
    """Write a run directory (run.toml + CSVs) from a FAO mocaredd workbook."""
    from simulator.mocaredd import import_mocaredd as run_import

    areas = dict(_area(a) for a in area)
    try:
        result = run_import(
            workbook, out_dir, areas, leakage_belt, buffer_pct, standard, start_year, years, seed
        )
        load_config(result.run_dir)  # the run.toml it wrote is valid
    except ReddsimError as e:
        _fail(e)
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


@app.command("runs")
def list_runs(
    path: Annotated[
        Path | None,
        typer.Argument(help="Where to look (default: runs/*/out/ under the current directory)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
) -> None:
    """List past runs with their key numbers, newest first."""
    from simulator.runs import list_runs as find

    listing = find(path if path is not None else Path("runs"))
    if as_json:
        doc = {
            "runs": [r.as_dict() for r in listing.runs],
            "skipped": {"incomplete": listing.incomplete, "unreadable": listing.unreadable},
        }
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False, default=_finite) + "\n")
    else:
        table = Table(title="Runs (total over the crediting period, tCO2e)", title_justify="left")
        for col in (
            "run id",
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
            table.add_column(col, justify="left" if col in ("run id", "standard") else "right")
        for r in listing.runs:
            level = f"{100 * r.confidence:.0f}% " if r.confidence is not None else ""
            table.add_row(
                r.run_id,
                r.created_utc.replace("T", " ").removesuffix("+00:00"),
                r.standard,
                f"{r.n_draws:,}",
                str(r.seed),
                f"{r.ner_mean:,.0f}",
                f"{level}{r.ner_ci_low:,.0f} – {r.ner_ci_high:,.0f}",
                f"{r.uncertainty_pct:.1f}%",
                f"{r.credits:,.0f}",
                r.gate,
            )
        out.width = max(out.width, 160)
        out.print(table)
    if listing.skipped or not listing.runs:
        err.print(
            f"{len(listing.runs)} runs; skipped {listing.skipped} "
            f"({len(listing.incomplete)} incomplete, {len(listing.unreadable)} unreadable)",
            highlight=False,
        )
    for where, why in listing.unreadable.items():
        err.print(f"[dim]unreadable:[/] {escape(where)}: {escape(why)}", highlight=False)


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


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _finite(x):  # json default for numpy scalars
    value = float(x)
    return value if math.isfinite(value) else None


# `reddsim biomass` lives in its own module
from simulator import biomass_cli  # noqa: E402

biomass_cli.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
