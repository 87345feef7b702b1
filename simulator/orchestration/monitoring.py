"""A monitoring run end to end: the validated baseline against each period's monitored loss.

``reddsim run DIR`` of a directory whose ``run.toml`` says ``kind = "monitoring"``
(:mod:`simulator.config.monitoring`):

1. reads the validated ex-ante run named by ``[baseline]`` and checks that it is
   what was validated: its manifest is a reddsim manifest of an ex-ante run, its
   recorded configuration matches its recorded SHA-256 (and ``config_sha256`` if
   pinned), the data files it read are unchanged, ``posterior.nc`` matches the SHA-256
   the manifest recorded, and its gates passed (unless ``allow_unconverged``);
2. reuses that posterior, not refitted: the ex-ante kernel's inputs and its joint
   draws of the baseline, carbon stocks and post-conversion carbon
   (:func:`simulator.engine.kernels.simulate`, the ex-ante run's seed);
3. estimates each period's project and belt loss from its map and accuracy sample
   (:mod:`simulator.data.monitoring`) and draws them (:mod:`simulator.inference.monitoring`);
4. accounts every standard per period (:mod:`simulator.accounting.monitoring`,
   :func:`simulator.accounting.periods.compare_periods`) and writes ``monitoring.json``,
   tables and the monitoring appendix (:mod:`simulator.report.monitoring`) into a new
   directory, installed only when complete.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from simulator.accounting.monitoring import PeriodDraws, monitored_period_draws
from simulator.accounting.periods import PeriodAccounts, compare_periods, vintages
from simulator.accounting.standards import vcs_mr44_significance
from simulator.config import RunSpec, check_data_paths, validate_config
from simulator.config.monitoring import MonitoringSpec
from simulator.data import RunData, load_data
from simulator.data.monitoring import MonitoredLoss, read_monitored_loss
from simulator.engine.kernels import KernelInputs, simulate
from simulator.errors import ConfigError, DataError, OutputError
from simulator.inference import kernel_inputs
from simulator.inference.fit import MODELS
from simulator.inference.monitoring import monitored_loss_draws
from simulator.orchestration.pipeline import check_output_dir, write_new_run
from simulator.report.manifest import MANIFEST_NAME, MONITORING_NAME, read_manifest

__all__ = [
    "RESULT_NAME",
    "ValidatedBaseline",
    "MonitoringResult",
    "load_baseline",
    "compute_monitoring",
    "run_monitoring",
]

#: The file that marks a complete monitoring-run directory.
RESULT_NAME = MONITORING_NAME


@dataclass(frozen=True)
class ValidatedBaseline:
    """The ex-ante run a monitoring run keeps, checked against its manifest."""

    spec: RunSpec
    data: RunData
    inputs: KernelInputs
    provenance: dict  # run dir, manifest / config / posterior SHA-256, gates


@dataclass(frozen=True)
class MonitoringResult:
    """What a monitoring run computed."""

    spec: MonitoringSpec
    baseline: ValidatedBaseline
    loss: MonitoredLoss
    draws: PeriodDraws
    accounts: PeriodAccounts
    buffer_pct: float
    significance: str | None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_baseline(spec: MonitoringSpec) -> ValidatedBaseline:
    """Read and check the validated ex-ante run of ``[baseline]`` and its kernel inputs.

    Raises
    ------
    ConfigError
        The run is not there, not an ex-ante run, its configuration is not the one
        pinned or recorded, or its gates failed (without ``allow_unconverged``).
    DataError
        A data file or ``posterior.nc`` differs from what its manifest recorded.
    """
    import xarray as xr

    base = spec.config.baseline
    where = f"{spec.path}: [baseline].run = {str(base.run)!r}"
    run_dir = spec.baseline_path("run")
    if not (run_dir / MANIFEST_NAME).is_file():
        raise ConfigError(
            f"{where}: no finished run there (no {MANIFEST_NAME}); run the ex-ante configuration "
            f"first: reddsim run {spec.baseline_path('config').parent} --out {run_dir}"
        )
    try:
        manifest = read_manifest(run_dir)
    except OutputError as err:
        raise ConfigError(f"{where}: {err}") from err
    if manifest.run_kind != "ex-ante":
        raise ConfigError(
            f"{where}: run_kind = {manifest.run_kind!r}; the baseline is an ex-ante run"
        )
    config_path = spec.baseline_path("config")
    if not config_path.is_file():
        raise ConfigError(f"{spec.path}: [baseline].config = {str(base.config)!r}: file not found")
    config = validate_config(manifest.config, run_dir / MANIFEST_NAME, "recorded config")
    if config.digest() != manifest.config_sha256:
        raise ConfigError(
            f"{where}: the manifest's config does not match its config_sha256 (edited)"
        )
    if base.config_sha256 is not None and base.config_sha256 != manifest.config_sha256:
        raise ConfigError(
            f"{spec.path}: [baseline].config_sha256 = {base.config_sha256[:12]}…: the run at "
            f"{run_dir} was made from config {manifest.config_sha256[:12]}…, not the one validated"
        )
    if not manifest.gates.passed and not base.allow_unconverged:
        raise ConfigError(
            f"{where}: its sampler or Monte Carlo gate failed (overridden by "
            f"{manifest.gates.override}); a validated baseline needs both to pass "
            "(set [baseline].allow_unconverged = true to accept it, and say so to the verifier)"
        )
    ex_spec = RunSpec(config, config_path)
    check_data_paths(ex_spec, f"{run_dir / MANIFEST_NAME} (recorded config)")
    data = load_data(ex_spec)
    for name, recorded in manifest.data_sha256.items():
        if data.sha256.get(name) != recorded:
            raise DataError(
                f"{ex_spec.data_path(name)}: changed since the baseline was validated "
                f"(SHA-256 {str(data.sha256.get(name))[:12]}…, the run recorded {recorded[:12]}…)"
            )
    posterior = run_dir / "posterior.nc"
    recorded = (manifest.outputs_sha256 or {}).get("posterior.nc")
    actual = _sha256(posterior) if posterior.is_file() else None
    if recorded is None or actual != recorded:
        raise DataError(
            f"{posterior}: SHA-256 {str(actual)[:12]}… is not the one its manifest recorded "
            f"({str(recorded)[:12]}…); the posterior cannot be trusted as the validated one"
        )
    with xr.open_datatree(posterior, engine="h5netcdf") as tree:
        trees = {name: tree[name].load() for name in MODELS}
    inputs = kernel_inputs(ex_spec, data, SimpleNamespace(trees=trees))
    provenance = {
        "run": str(base.run),
        "config": str(base.config),
        "run_id": manifest.run_id,
        "manifest_sha256": _sha256(run_dir / MANIFEST_NAME),
        "config_sha256": manifest.config_sha256,
        "posterior_sha256": actual,
        "seed": manifest.seed,
        "start_year": config.crediting.start_year,
        "years": config.crediting.years,
        "standard": config.accounting.standard,
        "gates_passed": manifest.gates.passed,
        "gates_override": manifest.gates.override,
        "ex_ante": _ex_ante_ner(run_dir),
    }
    return ValidatedBaseline(ex_spec, data, inputs, provenance)


def _ex_ante_ner(run_dir: Path) -> dict | None:
    """The ex-ante run's expected NER, U and credits per year (``tables/summary.csv``)."""
    import csv

    try:
        with open(run_dir / "tables" / "summary.csv", encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        keys = ("baseline", "project", "leakage", "ner_mean", "uncertainty_pct", "credits")
        return {r["period"]: {k: float(r[k]) for k in keys} for r in rows}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def compute_monitoring(spec: MonitoringSpec) -> MonitoringResult:
    """Everything a monitoring run computes, nothing written.

    Raises
    ------
    ConfigError, DataError
    """
    cfg = spec.config
    baseline = load_baseline(spec)
    ex = baseline.spec.config
    periods = cfg.crediting.period_spans()
    start, last = ex.crediting.start_year, ex.crediting.start_year + ex.crediting.years - 1
    if periods[0][0] != start or periods[-1][1] > last:
        raise ConfigError(
            f"{spec.path}: [crediting].periods = {cfg.crediting.periods}: must run from the "
            f"validated crediting start {start} (each verification accounts every period "
            f"before it) and end by {last}"
        )
    strata = [s.name for s in ex.project.strata]
    loss = read_monitored_loss(
        spec.data_path("map_areas"),
        spec.data_path("accuracy_sample"),
        cfg.crediting.periods,
        strata,
    )
    n = cfg.simulation.n_draws
    sim = simulate(baseline.inputs, n, ex.simulation.seed)
    project_ha, belt_ha = monitored_loss_draws(loss, strata, n, cfg.simulation.seed)
    m = cfg.monitoring
    draws = monitored_period_draws(
        baseline.inputs,
        sim,
        start,
        periods,
        project_ha,
        belt_ha,
        m.belt_forest_ha,
        m.belt_relative_risk,
    )
    rating = float(cfg.accounting.buffer_pct)
    table = compare_periods(draws.ner, draws.gross, periods, rating)
    # vintages: the baseline's years as simulated, the monitored loss evenly over its period
    yearly = {}
    base_mean = sim.baseline.mean(axis=0)
    for p, (a, b) in enumerate(periods):
        monitored = float((draws.project[:, p] + draws.leakage[:, p]).mean()) / (b - a + 1)
        for y in range(a, b + 1):
            yearly[y] = float(base_mean[y - start]) - monitored
    accounts = PeriodAccounts(table, vintages(table.credits, periods, yearly))
    significance = None
    if cfg.accounting.standard == "VCS-MR-4.4":
        u = table.uncertainty_pct.sel(standard="VCS-MR-4.4").values[:-1] / 100.0
        significance = "; ".join(
            f"{p}: {vcs_mr44_significance(x)}"
            for p, x in zip(table.period.values[:-1], u, strict=True)
        )
    return MonitoringResult(spec, baseline, loss, draws, accounts, rating, significance)


def run_monitoring(
    spec: MonitoringSpec, out_dir: Path | None = None, force: bool = False, pdf: bool = True
) -> tuple[Path, MonitoringResult]:
    """Compute a monitoring run and write its directory, complete or not at all.

    Returns
    -------
    (Path, MonitoringResult)
        The run directory and what it holds.
    """
    from simulator.report.monitoring import write_monitoring

    if out_dir is not None:  # before the baseline is read and the draws are made
        check_output_dir(out_dir, force, marker=RESULT_NAME)
    result = compute_monitoring(spec)
    final = write_new_run(
        spec.run_dir,
        spec.config.digest(),
        out_dir,
        force,
        RESULT_NAME,
        lambda tmp, final: write_monitoring(tmp, result, final, pdf=pdf),
    )
    return final, result
