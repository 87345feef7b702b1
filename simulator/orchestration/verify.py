"""Re-run a finished run from its manifest and confirm it reproduces every file.

An auditor's check: the manifest records the validated configuration and its
SHA-256, the SHA-256 of every data file and of every output file, and the seed.
:func:`verify` refuses a manifest that is not one (:func:`read_manifest`), checks
the recorded data paths as ``reddsim run`` does
(:func:`simulator.config.check_data_paths`: nothing outside the run directory is
read), checks the data files are unchanged, compares the run directory with the
recorded list of outputs (missing, extra and changed files; if any, the
directory is not the recorded run and nothing is re-run), runs the pipeline
again from the recorded configuration into a temporary directory, and compares
every CSV table byte for byte.

A monitoring run (a directory with ``monitoring.json`` instead of ``manifest.json``)
is verified the same way from what ``monitoring.json`` records: its configuration
and SHA-256, its data files' SHA-256, and, through the re-run, its validated
baseline (whose own checks the re-run repeats); every table is compared.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from simulator.config import RunSpec, check_data_paths, load_config, validate_config
from simulator.errors import ReddsimError
from simulator.report.manifest import (
    MANIFEST_NAME,
    MONITORING_NAME,
    output_hashes,
    read_manifest,
)

__all__ = ["Verification", "verify"]


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify`.

    ``compared`` are the tables re-run and ``differing`` those whose re-run differs;
    ``missing``, ``extra`` and ``changed`` compare the run directory with the files
    (and SHA-256) the manifest records.
    """

    run_dir: Path
    compared: list[str]
    differing: list[str]
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    files_checked: int = 0  # files compared with the manifest's SHA-256 (0: none recorded)

    @property
    def identical(self) -> bool:
        return not (self.differing or self.missing or self.extra or self.changed)

    def problems(self) -> list[str]:
        """What differs, one phrase per kind (empty if :attr:`identical`)."""
        kinds = [
            ("re-run differs", self.differing),
            ("missing", self.missing),
            ("not in the manifest", self.extra),
            ("changed since the run", self.changed),
        ]
        return [f"{what}: {', '.join(names)}" for what, names in kinds if names]


def _config_path(record: Path, recorded: str, loader) -> Path:
    """The run's configuration: the recorded path, else the usual layout.

    The usual layout is ``<run>/out/<run-id>/`` beside ``<run>/run.toml`` (an
    auditor's copy of the project need not sit at the same absolute path). The
    recorded path is only a hint from the record: it is used only if ``loader`` reads
    it as a run configuration, so the data paths cannot be made relative to any
    directory.
    """
    config_path = Path(recorded)
    for candidate in (config_path, record.parent.resolve().parent.parent / "run.toml"):
        try:
            if candidate.suffix == ".toml" and candidate.is_file():
                loader(candidate)
                return candidate
        except (OSError, ValueError, ReddsimError):
            continue
    raise ReddsimError(
        f"{record}: no run configuration at config_path = {str(config_path)!r} "
        "nor at ../../run.toml; verify needs the run's project directory"
    )


def _tables(run_dir: Path) -> list[str]:
    return sorted(p.relative_to(run_dir).as_posix() for p in (run_dir / "tables").glob("*.csv"))


def _differing(tables: list[str], run_dir: Path, again: Path) -> list[str]:
    """The tables whose re-run in ``again`` is missing or not byte-identical."""
    return [
        t
        for t in tables
        if not (again / t).is_file() or (run_dir / t).read_bytes() != (again / t).read_bytes()
    ]


def _verify_monitoring(run_dir: Path) -> Verification:
    """:func:`verify` of a monitoring run, from its ``monitoring.json``."""
    from simulator.config.load import load_run, validate_monitoring_config
    from simulator.config.monitoring import MonitoringSpec
    from simulator.orchestration.monitoring import compute_monitoring
    from simulator.report.monitoring import write_monitoring

    record = run_dir / MONITORING_NAME
    try:
        doc = json.loads(record.read_text(encoding="utf-8"))
        raw, digest, hashes = doc["config"], doc["config_sha256"], doc["data_sha256"]
        recorded_path = str(doc["config_path"])
        if doc.get("run_kind") != "monitoring" or not isinstance(hashes, dict):
            raise ValueError
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ReddsimError(f"{record}: not a reddsim monitoring record") from err

    def monitoring_config(path):
        if not isinstance(load_run(path), MonitoringSpec):
            raise ValueError("not a monitoring run")

    config_path = _config_path(record, recorded_path, monitoring_config)
    config = validate_monitoring_config(raw, record, "recorded config")
    if config.digest() != digest:
        raise ReddsimError(
            f"{record}: config_sha256 does not match the recorded config "
            "(the record was edited); the run cannot be verified from it"
        )
    spec = MonitoringSpec(config, config_path)
    check_data_paths(spec, f"{record} (recorded config)", section="monitoring")
    result = compute_monitoring(spec)  # checks the validated baseline again
    for name, expected in sorted(hashes.items()):
        actual = result.loss.sha256.get(name)
        if actual != expected:
            raise ReddsimError(
                f"{record}: data file {name} changed since the run (SHA-256 "
                f"{str(actual)[:12]}…, recorded {str(expected)[:12]}…); "
                "the run cannot be reproduced from it"
            )
    tables = _tables(run_dir)
    with tempfile.TemporaryDirectory(prefix="reddsim-verify-") as tmp:
        again = Path(tmp) / "run"
        write_monitoring(again, result, run_dir, pdf=False)
        differing = _differing(tables, run_dir, again)
    return Verification(run_dir, tables, differing)


def verify(run_dir: str | Path, progress=None) -> Verification:
    """Re-run ``run_dir`` from its ``manifest.json`` and compare its files.

    Raises
    ------
    ReddsimError
        If the manifest is missing, unreadable or not a manifest, its configuration
        does not match its recorded SHA-256, a data path escapes the run directory,
        or a data file changed since the run.
    """
    from simulator.orchestration.pipeline import run

    run_dir = Path(run_dir)
    if not (run_dir / MANIFEST_NAME).exists() and (run_dir / MONITORING_NAME).is_file():
        return _verify_monitoring(run_dir)
    manifest_path = run_dir / MANIFEST_NAME
    manifest = read_manifest(run_dir)
    raw_config, hashes = manifest.config, manifest.data_sha256
    # A run whose gates were overridden on the command line is re-run the same way.
    overridden = bool(manifest.gates.override)
    config_path = _config_path(manifest_path, manifest.config_path, load_config)
    config = validate_config(raw_config, manifest_path, "recorded config")
    if config.digest() != manifest.config_sha256:
        raise ReddsimError(
            f"{manifest_path}: config_sha256 does not match the recorded config "
            "(the manifest was edited); the run cannot be verified from it"
        )
    spec = RunSpec(config, config_path)
    check_data_paths(spec, f"{manifest_path} (recorded config)")
    unknown = sorted(set(hashes) - set(config.data.files()))
    if unknown:
        raise ReddsimError(
            f"{manifest_path}: data_sha256 names files the config has not: {unknown}"
        )
    for name, expected in hashes.items():
        path = spec.data_path(name)
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as err:
            raise ReddsimError(
                f"{path}: cannot read the data file of this run ({err.strerror})"
            ) from err
        if actual != expected:
            raise ReddsimError(
                f"{path}: changed since the run (SHA-256 {actual[:12]}…, "
                f"manifest {expected[:12]}…); the run cannot be reproduced from it"
            )
    for name, expected in (manifest.maps_sha256 or {}).items():  # the maps the appendix drew
        if config.maps is None or name not in config.maps.files():
            raise ReddsimError(
                f"{manifest_path}: maps_sha256 names a map the config has not: {name}"
            )
        path = spec.map_path(name)
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as err:
            raise ReddsimError(f"{path}: cannot read the map of this run ({err.strerror})") from err
        if actual != expected:
            raise ReddsimError(
                f"{path}: changed since the run (SHA-256 {actual[:12]}…, "
                f"manifest {expected[:12]}…); the run cannot be reproduced from it"
            )
    missing, extra, changed = [], [], []
    recorded = manifest.outputs_sha256
    if recorded is not None:
        present = output_hashes(run_dir)
        missing = sorted(set(recorded) - set(present))
        extra = sorted(set(present) - set(recorded))
        changed = sorted(n for n in set(recorded) & set(present) if recorded[n] != present[n])
        tables = sorted(n for n in recorded if n.startswith("tables/") and n.endswith(".csv"))
    else:
        tables = _tables(run_dir)
    n_files = len(recorded) if recorded is not None else 0
    if missing or extra or changed:  # the directory is not the recorded run: nothing to re-run
        return Verification(run_dir, [], [], missing, extra, changed, n_files)
    with tempfile.TemporaryDirectory(prefix="reddsim-verify-") as tmp:
        # an auditor's re-run samples every model afresh: never from the posterior cache
        again = run(
            spec,
            Path(tmp),
            progress=progress,
            allow_unconverged=overridden,
            posterior_cache=False,
        ).out_dir
        differing = _differing(tables, again=again, run_dir=run_dir)
    return Verification(run_dir, tables, differing, missing, extra, changed, n_files)
