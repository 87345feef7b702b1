"""Re-run a finished run from its manifest and confirm it reproduces every table.

An auditor's check: the manifest records the validated configuration, the SHA-256
of every data file and the seed. :func:`verify` checks the data files are
unchanged, runs the pipeline again from the recorded configuration into a
temporary directory, and compares every CSV table byte for byte.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from simulator.config import RunSpec, validate_config
from simulator.errors import ReddsimError
from simulator.report.manifest import MANIFEST_NAME, read_manifest

__all__ = ["Verification", "verify"]


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify`: tables compared and those that differ."""

    run_dir: Path
    compared: list[str]
    differing: list[str]

    @property
    def identical(self) -> bool:
        return not self.differing


def verify(run_dir: str | Path, progress=None) -> Verification:
    """Re-run ``run_dir`` from its ``manifest.json`` and compare its tables.

    Raises
    ------
    ReddsimError
        If the manifest is missing or unreadable, or a data file changed since the run.
    """
    from simulator.orchestration.pipeline import run

    run_dir = Path(run_dir)
    manifest_path = run_dir / MANIFEST_NAME
    manifest = read_manifest(run_dir)
    config_path = Path(manifest.config_path)
    raw_config, hashes = manifest.config, manifest.data_sha256
    # A run whose gates were overridden on the command line is re-run the same way.
    overridden = bool(manifest.gates.override)
    # The recorded path, else the usual layout <run>/out/<run-id>/ beside <run>/run.toml
    # (an auditor's copy of the project need not sit at the same absolute path).
    for candidate in (config_path, run_dir.resolve().parent.parent / "run.toml"):
        if candidate.is_file():
            config_path = candidate
            break
    spec = RunSpec(validate_config(raw_config, manifest_path, "recorded config"), config_path)
    for name, expected in hashes.items():
        path = spec.data_path(name)
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as err:
            raise ReddsimError(f"{path}: cannot read the data file of this run ({err})") from err
        if actual != expected:
            raise ReddsimError(
                f"{path}: changed since the run (SHA-256 {actual[:12]}…, "
                f"manifest {expected[:12]}…); the run cannot be reproduced from it"
            )
    tables = sorted(p.relative_to(run_dir) for p in (run_dir / "tables").glob("*.csv"))
    with tempfile.TemporaryDirectory(prefix="reddsim-verify-") as tmp:
        again = run(spec, Path(tmp), progress=progress, allow_unconverged=overridden).out_dir
        differing = [
            str(t) for t in tables if (run_dir / t).read_bytes() != (again / t).read_bytes()
        ]
    return Verification(run_dir, [str(t) for t in tables], differing)
