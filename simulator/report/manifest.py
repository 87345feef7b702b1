"""A run's ``manifest.json``: its typed schema and the one function that reads it.

The manifest is what makes a run reproducible and auditable: the validated
configuration and its SHA-256, the SHA-256 of every data file, the seed and the
number of draws, the RNG, package versions, diagnostics, gates and timings.
:func:`read_manifest` is how every reader (``reddsim verify``, ``reddsim runs``,
``reddsim report``, a batch's resume) gets it: the file is parsed, checked against
:class:`Manifest` and returned typed, or refused with one line naming the file
and the field. :func:`write_manifest` writes it atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from models.sampling import Diagnostics
from simulator.config.messages import describe_errors, dotted_location
from simulator.errors import OutputError
from simulator.files import write_text

__all__ = [
    "MANIFEST_NAME",
    "MONITORING_NAME",
    "Diagnosis",
    "MonteCarloGateRecord",
    "GatesRecord",
    "PosteriorCacheRecord",
    "Manifest",
    "UNRECORDED",
    "output_hashes",
    "read_manifest",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"

#: The record of a monitoring run (its manifest and results in one file; it marks the
#: run's directory as complete).
MONITORING_NAME = "monitoring.json"

#: Files of a run directory that are not in ``outputs_sha256``: the manifest itself and
#: the log (it holds timings, and is written until the run ends).
UNRECORDED = (MANIFEST_NAME, "run.log")


class _Record(BaseModel):
    # Readers accept keys they do not know (a newer reddsim may add some), but every key
    # they use must be present and of its type.
    model_config = ConfigDict(extra="allow", frozen=True)


#: One model's sampler diagnostics: the fields of :class:`models.sampling.Diagnostics`
#: (one definition of them) and whether they pass.
Diagnosis = create_model(
    "Diagnosis",
    __base__=_Record,
    **{name: (kind, ...) for name, kind in get_type_hints(Diagnostics).items()},
    passed=(bool, ...),
)


class MonteCarloGateRecord(_Record):
    """The Monte Carlo gate (:class:`simulator.orchestration.gates.MonteCarloGate`)."""

    n_draws: int
    mean: float | None
    mcse_low: float | None
    mcse_high: float | None
    limit: float
    relative_low: float | None
    relative_high: float | None
    passed: bool
    required_draws: int | None
    #: The two parts of each bound's error (tCO2e; ``total^2 = futures^2 + posterior^2``)
    #: and their larger bound over the mean; ``None`` in manifests written before the
    #: posterior-sample part was counted.
    futures_low: float | None = None
    futures_high: float | None = None
    posterior_low: float | None = None
    posterior_high: float | None = None
    relative_futures: float | None = None
    relative_posterior: float | None = None
    #: ``[sampler].draws`` of the run and the suggested value when the posterior part fails.
    posterior_draws: int | None = None
    required_posterior_draws: int | None = None


class GatesRecord(_Record):
    """Both gates' outcome and who overrode them (``None``: nobody)."""

    passed: bool
    sampler_passed: bool
    monte_carlo: MonteCarloGateRecord
    override: str | None


class PosteriorCacheRecord(_Record):
    """The posterior cache of a run (:class:`simulator.inference.cache.CacheRecord`).

    ``key`` identifies what the posteriors depend on; ``hit`` whether they were read
    from the cache rather than sampled; ``sha256`` the entry's files read or written.
    """

    key: str = Field(pattern=r"^[0-9a-f]{64}$")
    hit: bool
    enabled: bool
    sha256: dict[str, str]


class Manifest(_Record):
    """The typed content of ``manifest.json`` (keys as written by :func:`simulator.run`)."""

    run_id: str
    created_utc: str
    config_path: str
    config_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    config: dict[str, Any]
    data_sha256: dict[str, str]
    seed: int
    n_draws: int
    rng: str
    summaries: str
    numba_threads: int
    versions: dict[str, str]
    git_commit: str | None
    diagnostics: list[Diagnosis]
    diagnostics_override: bool
    gates: GatesRecord
    timings_s: dict[str, float]
    #: What the run is: ``"ex-ante"``, a forecast for a project description (validation),
    #: not a verification of monitored data.
    run_kind: Literal["ex-ante"] = "ex-ante"
    #: SHA-256 of every file of the run directory but :data:`UNRECORDED`, by relative
    #: path (``tables/summary.csv``); ``None`` in manifests written before it was kept.
    outputs_sha256: dict[str, str] | None = None
    #: The posterior cache's key and files, and whether the posteriors were reused;
    #: ``None`` in manifests written before the cache.
    posterior_cache: PosteriorCacheRecord | None = None
    #: SHA-256 of every ``[maps]`` file by name (the maps the appendix draws); absent in
    #: runs without ``[maps]``.
    maps_sha256: dict[str, str] | None = None

    @property
    def sampler_overridden(self) -> bool:
        """Whether a failing sampler gate was overridden (the run is shown as such)."""
        return not self.gates.sampler_passed and self.gates.override is not None


def output_hashes(run_dir: str | Path) -> dict[str, str]:
    """SHA-256 of every file under ``run_dir`` but :data:`UNRECORDED`, by relative path.

    A symlink is recorded as one (``symlink:<target>``), never followed.
    """
    run_dir = Path(run_dir)
    hashes = {}
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir).as_posix()
        if rel in UNRECORDED or (path.is_dir() and not path.is_symlink()):
            continue
        if path.is_symlink():
            hashes[rel] = f"symlink:{os.readlink(path)}"
        else:
            hashes[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def read_manifest(run_dir: str | Path) -> Manifest:
    """Read and validate ``run_dir/manifest.json``.

    Raises
    ------
    OutputError
        If the file is missing, not JSON, or does not hold a reddsim manifest (one
        line naming the file and the first fields that are wrong).
    """
    path = Path(run_dir) / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise OutputError(f"{path}: no manifest; not a finished reddsim run directory") from err
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise OutputError(f"{path}: not readable JSON ({type(err).__name__})") from err
    if not isinstance(raw, dict):
        raise OutputError(f"{path}: not a reddsim run manifest (a JSON {type(raw).__name__})")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as err:
        detail = describe_errors(err, Manifest, dotted_location)
        raise OutputError(f"{path}: not a reddsim run manifest: {detail}") from err


def write_manifest(run_dir: str | Path, manifest: dict) -> None:
    """Write ``manifest.json`` (after checking it against :class:`Manifest`), atomically."""
    Manifest.model_validate(manifest)
    write_text(Path(run_dir) / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
