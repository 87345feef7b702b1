"""Past runs: find finished run directories and read their key numbers.

A finished ex-ante run directory holds ``manifest.json`` and ``tables/summary.csv``
(written by :mod:`simulator.orchestration.pipeline` and :mod:`simulator.report.tables`);
a finished monitoring run holds ``monitoring.json`` and ``tables/monitoring_periods.csv``
(:mod:`simulator.orchestration.monitoring`). Directories still being written
(``.incomplete-*``) are skipped and counted, as are directories whose record or
table cannot be read.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from simulator.accounting.standards import STANDARDS
from simulator.errors import ReddsimError, one_line
from simulator.report.manifest import MANIFEST_NAME, MONITORING_NAME, Manifest, read_manifest

__all__ = ["RunRecord", "RunListing", "find_run_dirs", "gate_label", "list_runs"]


@dataclass(frozen=True)
class RunRecord:
    """Key numbers of one finished run (tCO2e).

    An ex-ante run's are the total over its crediting period. A monitoring run's are
    the sums over its monitoring periods: NER and credits add up, an interval and U do
    not (each period has its own), so those are NaN, and its gate is that of the
    validated ex-ante run it keeps.
    """

    run_id: str
    created_utc: str
    path: str
    project: str
    standard: str
    n_draws: int
    seed: int
    confidence: float | None  # of the CI, the standard's level (None: standard not known)
    ner_mean: float
    ner_ci_low: float
    ner_ci_high: float
    uncertainty_pct: float
    credits: float
    gate: str  # "pass", "FAIL (overridden)"; a monitoring run's: "baseline pass", ...
    run_kind: str = "ex-ante"  # or "monitoring"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunListing:
    """Runs found (newest first) and what was skipped."""

    runs: list[RunRecord]
    incomplete: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # path -> reason

    @property
    def skipped(self) -> int:
        return len(self.incomplete) + len(self.unreadable)


def find_run_dirs(root: Path) -> list[Path]:
    """Candidate run directories under ``root``.

    ``root`` may be a run's output directory itself, a parent of run outputs
    (``runs/x/out``), a run directory (``runs/x``, looked into ``out/``) or a
    directory of runs (``runs``, looked into ``*/out/``).
    """
    root = Path(root)
    if _is_run(root):
        return [root]
    found: list[Path] = []
    try:
        parents = (root, root / "out", *sorted(root.glob("*/out")))
    except OSError:
        parents = (root, root / "out")
    for parent in parents:
        try:
            if parent.is_dir():
                found += [p for p in sorted(parent.iterdir()) if p.is_dir() and p.name != "out"]
        except OSError:  # an unreadable directory holds no run we can list
            continue
    # a directory counts if it is, or is becoming, a run output
    return [p for p in found if p.name.startswith(".incomplete-") or _is_run(p)]


def _is_run(path: Path) -> bool:
    return (path / MANIFEST_NAME).is_file() or (path / MONITORING_NAME).is_file()


def list_runs(root: Path) -> RunListing:
    """Read every finished run under ``root``; newest first (by creation time, then id)."""
    listing = RunListing([])
    for path in find_run_dirs(root):
        if path.name.startswith(".incomplete-"):
            listing.incomplete.append(str(path))
            continue
        try:
            listing.runs.append(_read(path))
        except (OSError, ValueError, KeyError, TypeError, csv.Error, ReddsimError) as err:
            listing.unreadable[str(path)] = one_line(f"{type(err).__name__}: {err}")
    listing.runs.sort(key=lambda r: (r.created_utc, r.run_id), reverse=True)
    return listing


def gate_label(manifest: Manifest) -> str:
    """``pass`` when both gates passed; ``FAIL (overridden)`` when either failed and was overridden.

    Both gates count: the sampler gate and the Monte Carlo gate (a run whose Monte
    Carlo gate failed is not a pass, whatever its sampler diagnostics).
    """
    if manifest.gates.passed:
        return "pass"
    return "FAIL (overridden)" if manifest.gates.override else "FAIL"


def _read(path: Path) -> RunRecord:
    if not (path / MANIFEST_NAME).is_file():
        return _read_monitoring(path)
    manifest = read_manifest(path)
    with open(path / "tables" / "summary.csv", newline="", encoding="utf-8") as fh:
        total = next((row for row in csv.DictReader(fh) if row["period"] == "total"), None)
    if total is None:
        raise ValueError("tables/summary.csv has no total row")
    numbers = {k: float(total[k]) for k in ("ner_mean", "ner_ci_low", "ner_ci_high")}
    numbers |= {k: float(total[k]) for k in ("uncertainty_pct", "credits")}
    bad = [k for k, v in numbers.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"tables/summary.csv: total {', '.join(bad)} not finite")
    config = manifest.config
    name, key = config["project"]["name"], config["accounting"]["standard"]
    if not isinstance(name, str) or not isinstance(key, str):
        raise TypeError("manifest config: project.name and accounting.standard must be text")
    standard = STANDARDS.get(key)
    return RunRecord(
        run_id=manifest.run_id,
        created_utc=manifest.created_utc,
        path=str(path),
        project=name,
        standard=key,
        n_draws=manifest.n_draws,
        seed=manifest.seed,
        confidence=standard.confidence if standard is not None else None,
        **numbers,
        gate=gate_label(manifest),
    )


def _read_monitoring(path: Path) -> RunRecord:
    """A monitoring run: its record, and the sum row of its periods under its own standard."""
    try:
        doc = json.loads((path / MONITORING_NAME).read_text(encoding="utf-8"))
    except RecursionError as err:  # nested too deep to be a record
        raise ValueError(f"{MONITORING_NAME}: not readable JSON (nested too deep)") from err
    if not isinstance(doc, dict) or doc.get("run_kind") != "monitoring":
        raise ValueError(f"{MONITORING_NAME}: not a reddsim monitoring record")
    key, baseline = doc["standard"], doc["baseline"]
    if not isinstance(key, str) or not isinstance(doc["project"], str):
        raise TypeError(f"{MONITORING_NAME}: project and standard must be text")
    with open(path / "tables" / "monitoring_periods.csv", newline="", encoding="utf-8") as fh:
        rows = csv.DictReader(fh)
        total = next((r for r in rows if r["standard"] == key and r["period"] == "sum"), None)
    if total is None:
        raise ValueError(f"tables/monitoring_periods.csv has no sum row under {key}")
    numbers = {k: float(total[k]) for k in ("ner_mean", "credits")}
    bad = [k for k, v in numbers.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"tables/monitoring_periods.csv: sum {', '.join(bad)} not finite")
    if baseline["gates_passed"]:
        gate = "baseline pass"
    else:
        gate = "baseline FAIL (allowed)" if baseline["gates_override"] else "baseline FAIL"
    standard = STANDARDS.get(key)
    return RunRecord(
        run_id=path.name,
        created_utc=str(doc["created_utc"]),
        path=str(path),
        project=doc["project"],
        standard=key,
        n_draws=int(doc["n_draws"]),
        seed=int(doc["seed"]),
        confidence=standard.confidence if standard is not None else None,
        ner_ci_low=math.nan,
        ner_ci_high=math.nan,
        uncertainty_pct=math.nan,
        **numbers,
        gate=gate,
        run_kind="monitoring",
    )
