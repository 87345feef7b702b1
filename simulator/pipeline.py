"""One run end to end: config -> models -> kernel -> accounting -> report.

Outputs are written to a hidden temporary directory beside the final one and
renamed into place only when complete, so a run directory either exists whole or
not at all. A failure removes the temporary directory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numba
import xarray as xr

from simulator import rng
from simulator.accounting import Accounts, account_all
from simulator.config import RunSpec
from simulator.data import load_data
from simulator.inference import biomass_error_budget, crediting_years, fit_models, kernel_inputs
from simulator.standards import STANDARDS
from simulator.streaming import BLOCK_SIZE, N_BINS, Runner, stream

__all__ = ["RunOutcome", "run", "new_run_id", "TRACKED_PACKAGES"]

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

#: Progress callback: called with a stage name ("data", "sampling <model>", ...).
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


def new_run_id(spec: RunSpec, now: dt.datetime | None = None) -> str:
    """``<UTC time>-<first 8 hex of the config digest>``, e.g. ``20261125T142300Z-edba7f9d``."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{spec.config.digest()[:8]}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


def run(
    spec: RunSpec,
    out_root: Path | None = None,
    progress: Progress | None = None,
    runner: Runner | None = None,
) -> RunOutcome:
    """Execute a run and write its output directory.

    Parameters
    ----------
    spec : RunSpec
        Validated configuration (with any command-line overrides applied).
    out_root : Path, optional
        Directory that receives ``<run-id>/``; default ``<run dir>/out``.
    progress : callable, optional
        Called with the name of each stage as it starts.
    runner : callable, optional
        Executes the simulation's chunks (:func:`simulator.streaming.stream`'s
        ``runner``), e.g. :func:`simulator.batch.dask_runner`; the numbers do not
        depend on it.

    Returns
    -------
    RunOutcome
    """
    from simulator import report  # matplotlib/typst only when a run writes a report

    progress = progress or (lambda stage: None)
    cfg = spec.config
    out_root = Path(out_root) if out_root is not None else spec.run_dir / "out"
    timings: dict[str, float] = {}

    def timed(stage: str, fn):
        progress(stage)
        t0 = time.perf_counter()
        value = fn()
        timings[stage] = round(time.perf_counter() - t0, 3)
        return value

    data = timed("data", lambda: load_data(spec))
    run_id = new_run_id(spec)
    created_root = not out_root.exists()
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = out_root / f".incomplete-{run_id}-{os.getpid()}"
    final = out_root / run_id
    suffix = 1
    while final.exists():
        suffix += 1
        final = out_root / f"{run_id}-{suffix}"
    tmp.mkdir()
    try:
        with _log_to(tmp / "run.log"):
            log.info("run %s of %s (config %s)", run_id, spec.path, cfg.digest())
            posteriors = timed("sampling", lambda: fit_models(spec, data, on_stage=progress))
            budget = timed("error budget", lambda: biomass_error_budget(spec, posteriors))
            inputs = kernel_inputs(spec, data, posteriors)
            sim = timed(
                "simulation",
                lambda: stream(
                    inputs,
                    cfg.simulation.n_draws,
                    cfg.simulation.seed,
                    cfg.simulation.chunk_size,
                    mc_tolerance=cfg.simulation.mc_tolerance,
                    max_draws=cfg.simulation.max_draws,
                    runner=runner,
                ),
            )
            standard = STANDARDS[cfg.accounting.standard]
            accounts = timed(
                "accounting",
                lambda: account_all(
                    sim, inputs, standard, cfg.accounting.buffer_pct, cfg.crediting.start_year
                ),
            )
            manifest = {
                "run_id": final.name,
                "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "config_path": str(spec.path),
                "config_sha256": cfg.digest(),
                "config": cfg.model_dump(mode="json"),
                "data_sha256": {name: _sha256(spec.data_path(name)) for name in cfg.data.files()},
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
                "diagnostics_override": cfg.sampler.allow_failed_diagnostics,
                "timings_s": timings,
            }
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
                ),
            )
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            log.info("timings (s): %s", timings)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created_root and not any(out_root.iterdir()):
            out_root.rmdir()
        raise
    return RunOutcome(final, accounts, manifest)
