"""``reddsim check``, ``run``, ``report`` and ``verify``: one run, from config to appendix."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from simulator.cli.common import (
    USER_ERRORS,
    RunArg,
    Stages,
    app,
    catch_interrupts,
    configure_logging,
    err,
    fail,
    json_text,
    out,
    quiet_libraries,
)
from simulator.config import load_run
from simulator.config.mocaredd import MocareddSpec
from simulator.config.monitoring import MonitoringSpec
from simulator.errors import one_line

__all__ = ["check", "run", "report", "verify"]


@app.command()
def check(run: RunArg) -> None:
    """Validate a run's configuration and data files (no sampling)."""
    from simulator.data import load_data

    try:
        spec = load_run(run)
        if isinstance(spec, MocareddSpec):
            from simulator.data.mocaredd import read_mocaredd_inputs

            inputs = read_mocaredd_inputs(spec.data_path("workbook"))
        elif isinstance(spec, MonitoringSpec):
            from simulator.orchestration.monitoring import compute_monitoring

            result = compute_monitoring(spec)
        else:
            data = load_data(spec)
    except USER_ERRORS as e:
        fail(e)
    if isinstance(spec, MonitoringSpec):
        out.print(
            f"ok: {spec.path} (monitoring run: periods {', '.join(result.loss.periods)}, "
            f"baseline {result.baseline.provenance['run_id']} checked against its manifest)",
            highlight=False,
            soft_wrap=True,
        )
        return
    if isinstance(spec, MocareddSpec):
        types = ", ".join(dict.fromkeys(p.period_type for p in inputs.periods))
        out.print(
            f"ok: {spec.path} (mocaredd mode: {len(inputs.transitions)} transitions, "
            f"{len(inputs.elements)} carbon elements, period types {types})",
            highlight=False,
            soft_wrap=True,
        )
        return
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


def _totals(outcome) -> dict:
    from simulator.accounting import SIDE_BY_SIDE
    from simulator.report.tables import period_records

    s, side = outcome.summary, outcome.accounts.side_by_side
    return {
        "out_dir": str(outcome.out_dir),
        "run_kind": outcome.manifest["run_kind"],
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
        **(
            {"monitoring_periods": outcome.accounts.periods.records()}
            if outcome.accounts.periods is not None
            else {}
        ),
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


def _mocaredd_totals(outcome) -> dict:
    """The ``--json`` totals of a mocaredd-mode run: the usual keys, then mocaredd's."""
    r = outcome.result
    return {
        "out_dir": str(outcome.out_dir),
        "appendix": None,
        "standard": "mocaredd",
        "confidence": r["confidence"],
        "n_draws": r["n_draws"],
        "seed": r["seed"],
        "periods": [],
        "standards": {},
        "mode": "mocaredd",
        "mocaredd": r["estimates"],
    }


def _run_mocaredd(spec, out_dir, force, as_json) -> None:
    from simulator.orchestration.mocaredd import run_mocaredd

    try:
        outcome = run_mocaredd(spec, out_dir=out_dir, force=force)
    except USER_ERRORS as e:
        fail(e)
    totals = _mocaredd_totals(outcome)
    if as_json:
        sys.stdout.write(json_text(totals))
        return
    conf = round(100 * totals["confidence"])
    table = Table(
        title=f"mocaredd (tCO2e/yr), {totals['n_draws']:,} draws, seed {totals['seed']}",
        title_justify="left",
    )
    for col in ("estimate", "period", "mean", "median", f"{conf}% CI", "U"):
        table.add_column(col, justify="left" if col in ("estimate", "period") else "right")
    for r in totals["mocaredd"]:
        table.add_row(
            r["quantity"],
            r["period"],
            f"{r['mean']:,.0f}",
            f"{r['median']:,.0f}",
            f"{r['ci_low']:,.0f} – {r['ci_high']:,.0f}",
            "" if r["E_U"] is None else f"{r['E_U']:.0f}%",
        )
    out.width = max(out.width, 104)
    out.print(table)
    out.print(f"results: {totals['out_dir']}", highlight=False, soft_wrap=True)


def _monitoring_totals(out_dir, result) -> dict:
    """The ``--json`` of a monitoring run: per period and standard the credits, and vintages."""
    from simulator.report.monitoring import monitoring_json

    doc = monitoring_json(result, out_dir)
    keys = (
        "run_kind",
        "out_dir",
        "project",
        "config_sha256",
        "seed",
        "n_draws",
        "periods",
        "standard",
        "buffer_pct",
        "risk",
        "significance",
        "baseline",
        "components",
        "monitored_areas",
    )
    return {**{k: doc[k] for k in keys}, "monitoring_periods": doc["standards"]}


def _run_monitoring(spec, out_dir, force, as_json) -> None:
    from simulator.orchestration.monitoring import run_monitoring

    try:
        final, result = run_monitoring(spec, out_dir=out_dir, force=force)
    except USER_ERRORS as e:
        fail(e)
    totals = _monitoring_totals(final, result)
    if as_json:
        sys.stdout.write(json_text(totals))
        return
    key = totals["standard"]
    table = Table(title=f"credits per monitoring period under {key} (tCO2e)")
    for col in ("period", "NER mean", "U", "deduction", "buffer", "credits"):
        table.add_column(col, justify="left" if col == "period" else "right")
    for r in totals["monitoring_periods"][key]["periods"]:
        table.add_row(
            r["period"],
            f"{r['ner_mean']:,.0f}",
            f"{r['uncertainty_pct']:.1f}%" if r["uncertainty_pct"] is not None else "",
            f"{r['uncertainty_deduction']:,.0f}",
            f"{r['buffer']:,.0f}",
            f"{r['credits']:,.0f}",
        )
    out.print(table)
    out.print(f"results: {final}", highlight=False, soft_wrap=True)


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
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="Sample every model, neither reading nor writing the posterior cache "
            "(REDDSIM_CACHE, default ~/.cache/reddsim; REDDSIM_CACHE=off does the same).",
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
    bound of the total-NER interval (futures and posterior sample) is below 0.5% of
    its mean, unless --allow-unconverged. Threads follow NUMBA_NUM_THREADS; results
    do not depend on the thread count.
    """
    configure_logging(verbose, quiet)
    try:
        spec = load_run(run).with_overrides(n_draws=draws, seed=seed, mc_tolerance=mc_tolerance)
        if isinstance(spec, MocareddSpec):
            return _run_mocaredd(spec, out_dir, force, as_json)
        if isinstance(spec, MonitoringSpec):
            return _run_monitoring(spec, out_dir, force, as_json)
        if out_dir is not None:
            from simulator.orchestration.pipeline import check_output_dir

            check_output_dir(out_dir, force)  # before minutes of sampling
    except USER_ERRORS as e:
        fail(e)
    from simulator.orchestration.pipeline import run as execute

    quiet_libraries(verbose)
    catch_interrupts()  # the run unwinds and its partial output is removed
    try:
        with Stages(quiet) as stages:
            outcome = execute(
                spec,
                progress=stages,
                out_dir=out_dir,
                force=force,
                allow_unconverged=allow_unconverged,
                resume=resume,
                posterior_cache=not no_cache,
            )
    except USER_ERRORS as e:
        fail(e)
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
        sys.stdout.write(json_text(totals))
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
    except USER_ERRORS as e:
        fail(e)
    out.print(f"appendix: {pdf}", highlight=False, soft_wrap=True)


@app.command()
def verify(
    run_dir: Annotated[
        Path,
        typer.Argument(
            help="A run's output directory (with manifest.json, or monitoring.json for a "
            "monitoring run)."
        ),
    ],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Re-run a finished run from its manifest; check every table and recorded file.

    A monitoring run is re-run from its monitoring.json (its configuration, data and
    validated baseline are checked again) and every table compared.
    """
    configure_logging(False, quiet)
    import simulator.orchestration.pipeline  # noqa: F401  (PyMC sets its log level on import)
    from simulator.orchestration.verify import verify as reproduce

    quiet_libraries(False)
    try:
        progress = (
            None
            if quiet
            else (lambda stage: err.print(f"[dim]▸ {escape(stage)}[/]", highlight=False))
        )
        result = reproduce(run_dir, progress=progress)
    except USER_ERRORS as e:
        fail(e)
    if result.identical:
        out.print(
            f"identical: {len(result.compared)} tables of {run_dir} reproduced bit for bit"
            + (
                f", its {result.files_checked} recorded files unchanged"
                if result.files_checked
                else ""
            ),
            highlight=False,
            soft_wrap=True,
        )
        return
    out.print(
        escape(one_line(f"DIFFERENT: {run_dir}: {'; '.join(result.problems())}")),
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(code=1)
