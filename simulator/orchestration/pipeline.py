"""One run end to end: config -> models -> kernel -> accounting -> report.

Outputs are written to a hidden temporary directory beside the final one and
renamed into place only when complete, so a run directory either exists whole or
not at all. A failure (a failing gate, an error, an interrupt) removes the
temporary directory.

The output directory is ``<run dir>/out/<run-id>`` (a new name for every run) or
the directory given as ``out_dir``. An existing complete run there is replaced
only with ``force``, and only after the new run is complete: the old directory is
moved aside, the new one renamed into place, then the old one deleted.
"""

from __future__ import annotations

import datetime as dt
import glob
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

import numba
import xarray as xr

from models.sampling import one_blas_thread
from simulator.accounting import Accounts, account_all
from simulator.accounting.periods import PERIOD_DRAWS, account_periods
from simulator.accounting.standards import STANDARDS
from simulator.analysis.prior_sensitivity import cached_prior_sensitivity
from simulator.config import RunSpec
from simulator.data import load_data
from simulator.engine import rng
from simulator.engine.kernels import simulate
from simulator.engine.streaming import (
    BLOCK_SIZE,
    N_BINS,
    Runner,
    checkpointed,
    serial_runner,
    stream,
)
from simulator.errors import OutputError, describe_os_error
from simulator.files import install_directory
from simulator.inference import (
    cached_error_budget,
    cached_replicates,
    crediting_years,
    fit_models,
    kernel_inputs,
)
from simulator.inference.cache import PosteriorCache
from simulator.orchestration import gates
from simulator.report.manifest import output_hashes, write_manifest

__all__ = [
    "RunOutcome",
    "run",
    "new_run_id",
    "check_output_dir",
    "write_new_run",
    "TRACKED_PACKAGES",
]

log = logging.getLogger(__name__)

TRACKED_PACKAGES = (
    "reddsim",
    "numpy",
    "scipy",
    "numba",
    "pymc",
    "pytensor",
    "nutpie",
    "arviz",
    "xarray",
    "h5netcdf",
    "matplotlib",
    "pydantic",
    "typst",
)

#: Progress callback: called with a stage name ("data", "sampling <model>", ...). If it
#: also has a method ``advance(done, total)``, the simulation stage calls it with the
#: futures simulated so far.
Progress = Callable[[str], None]


@dataclass
class RunOutcome:
    """What a finished run produced."""

    out_dir: Path
    accounts: Accounts
    manifest: dict = field(repr=False)

    @property
    def summary(self) -> xr.Dataset:
        """Accounting under the run's standard."""
        return self.accounts.summary

    @property
    def appendix(self) -> Path:
        return self.out_dir / "appendix.pdf"


#: Every run today is an ex-ante estimate: a forecast of NER over the crediting period for a
#: project description. VCS issues credits at verification, per monitoring period, from
#: monitored data; the manifest, ``--json`` and every page of the appendix say which it is.
RUN_KIND = "ex-ante"


def new_run_id(spec: RunSpec, now: dt.datetime | None = None) -> str:
    """``<UTC time>-<first 8 hex of the config digest>``, e.g. ``20261125T142300Z-edba7f9d``."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{spec.config.digest()[:8]}"


def _period_accounts(cfg, inputs, accounts: Accounts) -> Accounts:
    """Credits per monitoring period and vintage, on the run's first draws held in memory.

    Per-period deductions need joint draws across years (cumulative NER); the streamed
    summary keeps each year's distribution only, so the first ``PERIOD_DRAWS`` draws of
    the same counter-RNG stream are simulated again in memory (bit-identical).
    """
    n = min(cfg.simulation.n_draws, PERIOD_DRAWS)
    draws = simulate(inputs, n, cfg.simulation.seed)
    periods = account_periods(
        draws.baseline,
        draws.project,
        draws.leakage,
        cfg.crediting.start_year,
        cfg.crediting.period_spans(),
        cfg.accounting.buffer_pct,
    )
    return replace(accounts, periods=periods)


def _git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@contextmanager
def _log_to(path: Path):
    """Copy the library's log records into the run's ``run.log``."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(n) for n in ("simulator", "models")]
    old_levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        if lg.level == logging.NOTSET or lg.level > logging.INFO:
            lg.setLevel(logging.INFO)
    try:
        yield
    finally:
        for lg, level in zip(loggers, old_levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
        handler.close()


#: The longest ``--out`` name: the run is written beside it as
#: ``.incomplete-<name>-<pid>``, which must fit in a file name (255 bytes).
MAX_OUT_NAME = 200


def check_output_dir(
    path: Path, force: bool = False, *, probe: bool = True, marker: str = "manifest.json"
) -> None:
    """Check that a run may be written to ``path`` (the run directory itself).

    ``path`` may be absent or an empty directory; a complete run directory (one with
    ``marker``: ``manifest.json``, or a mocaredd-mode run's ``mocaredd.json``) only with
    ``force``; anything else never. ``path`` itself must
    not be a symlink (its parents may be); its name must fit the file system with the
    temporary name beside it (:data:`MAX_OUT_NAME`); its nearest existing parent must
    be a directory where a file can be created (probed, so a read-only file system or
    a full quota is found before any sampling; ``probe=False`` skips that).

    Raises
    ------
    OutputError
        One line saying what is in the way and what to do.
    """
    path = Path(path)
    if "\x00" in str(path):
        raise OutputError(f"{path}: a NUL byte in the output path")
    if len(os.fsencode(path.name)) > MAX_OUT_NAME:
        raise OutputError(
            f"{path}: the name is {len(os.fsencode(path.name))} bytes; at most {MAX_OUT_NAME}"
        )
    if path.is_symlink():
        raise OutputError(
            f"{path}: a symlink; --out must name the run directory itself, not a link "
            "(give the link's target or a new path)"
        )
    if probe:
        _check_writable(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputError(f"{path}: exists and is not a directory; give a new path to --out")
    if not any(path.iterdir()):
        return
    if (path / marker).is_file():
        if force:
            return
        raise OutputError(
            f"{path}: a complete run directory already exists; pass --force to replace it "
            "(the old run is kept until the new one is complete) or give another --out"
        )
    raise OutputError(
        f"{path}: exists and is not a reddsim run directory (no {marker}); --out names "
        "the new run directory itself: give a new or empty directory"
    )


def _check_writable(path: Path) -> None:
    """Probe that the directory to hold ``path`` (or its nearest existing parent) is writable."""
    parent = path.absolute().parent
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: {parent} is not a directory; give a path under a directory")
    try:
        probe = tempfile.mkdtemp(prefix=".reddsim-probe-", dir=parent)
        os.rmdir(probe)
    except OSError as err:
        raise OutputError(
            f"{path}: cannot write in {parent} ({err.strerror or type(err).__name__})"
        ) from err


def write_new_run(
    run_dir: Path,
    digest: str,
    out_dir: Path | None,
    force: bool,
    marker: str,
    write: Callable[[Path, Path], None],
) -> Path:
    """Write a run directory that appears only when complete; return where it is.

    For the runs that are not pipeline runs (a mocaredd-mode run, a monitoring run):
    ``out_dir``, checked by :func:`check_output_dir` with the run's ``marker`` file, or
    a new ``run_dir/out/<UTC time>-<digest[:8]>``. ``write(tmp, final)`` fills the
    temporary directory beside it; it is then installed, or removed on any failure.

    Raises
    ------
    OutputError
        The directory cannot be written (one line naming it and why).
    """
    if out_dir is None:
        stamp = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{digest[:8]}"
        final = run_dir / "out" / stamp
        k = 1
        while final.exists():
            k += 1
            final = run_dir / "out" / f"{stamp}-{k}"
    else:
        final = Path(out_dir)
        check_output_dir(final, force, marker=marker)
    tmp = final.parent / f".incomplete-{final.name}-{os.getpid()}"
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        write(tmp, final)
        install_directory(tmp, final, replace=force)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{final}: cannot write the run ({describe_os_error(err)})") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _install(tmp: Path, final: Path, force: bool) -> None:
    """Rename the complete ``tmp`` to ``final``, replacing an old run only with ``force``."""
    # again: something may have appeared while we ran (no probe: the run is already written)
    check_output_dir(final, force, probe=False)
    install_directory(tmp, final, replace=True)


def run(
    spec: RunSpec,
    out_root: Path | None = None,
    progress: Progress | None = None,
    *,
    out_dir: Path | None = None,
    force: bool = False,
    allow_unconverged: bool = False,
    resume: bool = False,
    runner: Runner | None = None,
    posterior_cache: bool = True,
) -> RunOutcome:
    """Execute a run and write its output directory.

    Parameters
    ----------
    spec : RunSpec
        Validated configuration (with any command-line overrides applied).
    out_root : Path, optional
        Directory that receives ``<run-id>/``; default ``<run dir>/out``.
    progress : callable, optional
        Called with the name of each stage as it starts (:data:`Progress`).
    out_dir : Path, optional
        The run directory itself (instead of ``out_root/<run-id>``).
    force : bool
        Replace a complete run already at ``out_dir`` (once the new one is complete).
    allow_unconverged : bool
        Override the sampler and Monte Carlo gates (:mod:`simulator.orchestration.gates`); the
        manifest and the appendix say so.
    resume : bool
        Save each finished chunk of the simulation under ``out_root/.chunks/`` and
        reuse the chunks an interrupted run with the same configuration saved
        (:func:`simulator.engine.streaming.checkpointed`); removed once the run is complete.
    runner : callable, optional
        Executes the simulation's chunks (:func:`simulator.engine.streaming.stream`'s
        ``runner``), e.g. :func:`simulator.orchestration.batch.dask_runner`; the numbers do not
        depend on it.
    posterior_cache : bool
        Reuse (or store) the posteriors in the posterior cache
        (:mod:`simulator.inference.cache`, at ``REDDSIM_CACHE``; ``off`` disables it);
        false samples every model and leaves the cache alone. The numbers do not
        depend on it; the manifest's ``posterior_cache`` says which it was.

    Returns
    -------
    RunOutcome

    Raises
    ------
    OutputError
        If ``out_dir`` holds a complete run and ``force`` is false, or holds
        something that is not a run.
    ConvergenceError
        If a gate fails and is not overridden; nothing is written.
    """
    from simulator import report  # matplotlib/typst only when a run writes a report

    progress = progress or (lambda stage: None)
    cfg = spec.config
    override = gates.override_source(allow_unconverged, cfg.sampler)
    if out_dir is not None:
        out_dir = Path(out_dir)
        check_output_dir(out_dir, force)
        out_root = out_dir.parent
    out_root = Path(out_root) if out_root is not None else spec.run_dir / "out"
    if out_dir is None:  # the run goes to out_root/<run-id>: out_root must take it
        if out_root.exists() and not out_root.is_dir():
            raise OutputError(f"{out_root}: exists and is not a directory")
        _check_writable(out_root / "run")
    timings: dict[str, float] = {}

    def timed(stage: str, fn):
        progress(stage)
        t0 = time.perf_counter()
        value = fn()
        timings[stage] = round(time.perf_counter() - t0, 3)
        return value

    data = timed("data", lambda: load_data(spec))
    # the maps the appendix draws, read (and refused if bad) before anything is sampled
    maps = None
    if cfg.maps is not None:
        from simulator.report.figures.maps import read_run_maps

        maps = timed("maps", lambda: read_run_maps(spec))
    cache = PosteriorCache.from_environment() if posterior_cache else None
    run_id = new_run_id(spec)
    created_root = not out_root.exists()
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{out_root}: cannot create it ({describe_os_error(err)})") from err
    if out_dir is not None:
        final = out_dir
    else:
        final = out_root / run_id
        suffix = 1
        while final.exists():
            suffix += 1
            final = out_root / f"{run_id}-{suffix}"
    _remove_dead_partials(out_root, final.name)
    tmp = out_root / f".incomplete-{final.name}-{os.getpid()}"
    chunks = out_root / ".chunks" / cfg.digest()[:16]
    try:
        tmp.mkdir()
    except OSError as err:
        raise OutputError(f"{tmp}: cannot create it ({describe_os_error(err)})") from err
    try:
        # BLAS on one thread, as on a Dask worker: a run's bits must not depend on where
        with _log_to(tmp / "run.log"), one_blas_thread():
            log.info("run %s of %s (config %s)", run_id, spec.path, cfg.digest())
            posteriors = timed(
                "sampling",
                lambda: fit_models(spec, data, on_stage=progress, cache=cache),
            )
            gates.check_sampler(posteriors.diagnostics, cfg.sampler, override)
            budget, budget_record = timed(
                "error budget", lambda: cached_error_budget(spec, data, posteriors, cache)
            )
            inputs = kernel_inputs(spec, data, posteriors)
            sim = timed(
                "simulation",
                lambda: stream(
                    inputs,
                    cfg.simulation.n_draws,
                    cfg.simulation.seed,
                    cfg.simulation.chunk_size,
                    runner=checkpointed(runner or serial_runner, chunks) if resume else runner,
                    mc_tolerance=cfg.simulation.mc_tolerance,
                    max_draws=cfg.simulation.max_draws,
                    on_progress=getattr(progress, "advance", None),
                ),
            )
            standard = STANDARDS[cfg.accounting.standard]
            accounts = timed(
                "accounting",
                lambda: account_all(
                    sim, inputs, standard, cfg.accounting.buffer_pct, cfg.crediting.start_year
                ),
            )
            if cfg.crediting.periods is not None:
                accounts = timed(
                    "monitoring periods", lambda: _period_accounts(cfg, inputs, accounts)
                )
            mc_gate = gates.monte_carlo_gate(accounts.summary, cfg.sampler.draws)
            log.info("Monte Carlo gate: %s", mc_gate.as_dict())
            gates.check_monte_carlo(mc_gate, override)
            sampler_passed = all(d.passed for d in posteriors.diagnostics)
            if override and not (sampler_passed and mc_gate.passed):
                log.warning("gates fail and are overridden by %s", override)
            manifest = {
                "run_id": final.name if out_dir is None else run_id,
                "run_kind": RUN_KIND,
                "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "config_path": str(spec.path),
                "config_sha256": cfg.digest(),
                "config": cfg.model_dump(mode="json"),
                "data_sha256": dict(data.sha256),  # hashed as read
                "seed": cfg.simulation.seed,
                "n_draws": sim.n_draws,
                "rng": rng.DESCRIPTION,
                "summaries": (
                    f"streamed: exact sums over blocks of {BLOCK_SIZE:,} draws, "
                    f"{N_BINS:,}-bin histograms for quantiles"
                ),
                "numba_threads": numba.get_num_threads(),
                "versions": _versions(),
                "git_commit": _git_commit(spec.run_dir),
                "diagnostics": [d.as_dict() for d in posteriors.diagnostics],
                "posterior_cache": posteriors.cache.as_dict(),
                "cache_parts": {
                    "error_budget": None if budget_record is None else budget_record.as_dict()
                },
                "diagnostics_override": override is not None,
                "gates": {
                    "passed": sampler_passed and mc_gate.passed,
                    "sampler_passed": sampler_passed,
                    "monte_carlo": mc_gate.as_dict(),
                    "override": override,
                },
                "timings_s": timings,
            }
            if maps is not None:
                manifest["maps_sha256"] = dict(maps.sha256)
            sensitivity = _sensitivity(
                timed, spec, data, posteriors, inputs, budget, accounts.summary
            )
            noise_rows = None
            if cfg.deforestation.compare_noise and cfg.deforestation.baseline != "allocated":
                from simulator.analysis.noise_choice import compare_noise, other_noise
                from simulator.inference.fit import fit_rate_variant

                def noise_comparison():
                    tree, record = fit_rate_variant(spec, data, other_noise(cfg), cache)
                    manifest["cache_parts"]["noise_comparison"] = record.as_dict()
                    return compare_noise(spec, data, posteriors, tree)

                noise_rows = timed("noise comparison", noise_comparison)
            replicates, replicates_record = timed(
                "predictive checks", lambda: cached_replicates(spec, data, posteriors, cache)
            )
            if replicates_record is not None:
                manifest["cache_parts"]["replicates"] = replicates_record.as_dict()
            prior_rows, prior_record = timed(
                "prior sensitivity",
                lambda: cached_prior_sensitivity(spec, data, inputs, cache),
            )
            manifest["cache_parts"]["prior_sensitivity"] = prior_record.as_dict()
            timed(
                "report",
                lambda: report.write_outputs(
                    tmp,
                    spec,
                    data,
                    posteriors,
                    inputs,
                    sim,
                    accounts,
                    budget,
                    manifest,
                    years=crediting_years(spec),
                    sensitivity=sensitivity,
                    noise_comparison=noise_rows,
                    replicates=replicates,
                    prior_rows=prior_rows,
                    maps=maps,
                ),
            )
            manifest["outputs_sha256"] = output_hashes(tmp)
            write_manifest(tmp, manifest)
            log.info("timings (s): %s", timings)
        _install(tmp, final, force)
        shutil.rmtree(chunks, ignore_errors=True)
        if chunks.parent.exists() and not any(chunks.parent.iterdir()):
            chunks.parent.rmdir()
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if created_root and out_root.exists() and not any(out_root.iterdir()):
            out_root.rmdir()
        if isinstance(exc, OSError):  # a full disk, a read-only file system, a quota
            raise OutputError(
                f"{final}: cannot write the run ({describe_os_error(exc)}); nothing was written"
            ) from exc
        raise
    return RunOutcome(final, accounts, manifest)


def _remove_dead_partials(out_root: Path, name: str) -> None:
    """Remove ``.incomplete-<name>-<pid>`` directories whose process no longer exists.

    A run killed outright (SIGKILL, power loss) cannot clean up after itself; the next
    run to the same directory does. A partial directory of a live process on this
    machine is kept (the process id is not unique across machines sharing a disk).
    """
    prefix = f".incomplete-{name}-"
    for path in out_root.glob(f"{glob.escape(prefix)}*"):
        pid = path.name[len(prefix) :]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            log.info("removing %s, left by a run that was killed", path)
            shutil.rmtree(path, ignore_errors=True)
        except OSError:  # the process exists (another user's): keep its directory
            continue


def _sensitivity(timed, spec: RunSpec, data, posteriors, inputs, budget, summary):
    """Sobol indices and sampling-effort planning (``[sensitivity]``), or ``None``.

    The input groups are those of the inventory-based biomass model (allometry, plots);
    a run from stated carbon stocks (``[data] carbon_stocks``) has none, so it is skipped
    and the log says so. ``summary`` is the run's accounting, to which the planning is
    anchored.
    """
    if not spec.config.sensitivity.enabled:
        return None
    if posteriors.plots is None:
        log.info("sensitivity skipped: it needs a tree inventory (this run uses carbon stocks)")
        return None
    from simulator.analysis import sensitivity

    return timed(
        "sensitivity",
        lambda: sensitivity.analyse(spec, data, posteriors, inputs, budget, summary=summary),
    )
