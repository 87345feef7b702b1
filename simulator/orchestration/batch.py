"""Batches of runs, and huge runs, on a dask.distributed cluster.

Two kinds of parallel work, both exact:

* **Chunks of one run.** :func:`dask_runner` is a ``runner`` for
  :func:`simulator.engine.streaming.stream`: it scatters the kernel inputs to the workers
  once, submits :func:`~simulator.engine.streaming.simulate_chunk` for each
  ``(draw_start, n)`` of the plan and yields the statistics as they complete. A
  chunk is a pure function of (inputs, seed, draw range) and the statistics merge
  exactly, so the summary is bit-identical to a serial run whatever the order,
  the worker, or a lost worker's chunk being recomputed.
* **Whole runs.** :func:`run_batch` runs each member of a batch spec
  (:func:`load_batch`) as one task calling :func:`simulator.orchestration.pipeline.run` on a
  worker process (PyMC and nutpie compile models, so processes, not threads). A
  member writes a normal, atomic run directory under ``<out>/<member>/``; the
  batch writes ``batch_summary.csv`` and ``batch.json`` beside them.

Members whose posteriors have one key (:func:`simulator.inference.cache.posterior_key`:
they differ only in simulation, accounting, crediting or report settings) sample it
once: the posterior cache (``REDDSIM_CACHE``, read by each worker from its own
environment) holds a file lock per key, so on one machine the first worker samples
and the others wait for its entry and read it. Workers on several machines share
posteriors only through a cache directory they all see (or they sample each key
themselves: the numbers are the same).

Threads: a LocalCluster worker runs one task at a time (``threads_per_worker=1``)
and its tasks use ``CPUs // workers`` numba threads (``numba_threads``: set with
:func:`numba.set_num_threads` inside the task, because a worker process imports
numba before a worker's environment would take effect), so ``N`` workers use the
machine's cores without oversubscribing them. On a cluster of your own, start
workers with ``--nthreads 1`` and ``NUMBA_NUM_THREADS`` set to the cores each may
use. Thread counts never change the numbers.

The spec is read by :mod:`simulator.orchestration.batchspec`; the cluster and the
chunk runner are :mod:`simulator.orchestration.cluster`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from simulator.config import RunSpec
from simulator.errors import ReddsimError
from simulator.files import atomic_path, write_text
from simulator.orchestration.batchspec import BatchSpec, Member, load_batch
from simulator.orchestration.cluster import (
    dask_runner,
    local_numba_threads,
    open_client,
    set_numba_threads,
)
from simulator.report.manifest import read_manifest

__all__ = [
    "BatchSpec",
    "Member",
    "MemberResult",
    "BatchResult",
    "SUMMARY_COLUMNS",
    "load_batch",
    "dask_runner",
    "open_client",
    "run_batch",
    "completed_run",
    "local_numba_threads",
    "cleanup_interrupted",
    "plan_members",
]

log = logging.getLogger(__name__)

#: Columns of ``batch_summary.csv`` (totals over the crediting period, tCO2e).
SUMMARY_COLUMNS = (
    "name",
    "status",
    "config_sha256",
    "seed",
    "n_draws",
    "standard",
    "confidence",
    "ner_mean",
    "ner_ci_low",
    "ner_ci_high",
    "uncertainty_pct",
    "uncertainty_deduction",
    "credits",
    "run_dir",
    "overrides",
)

# --------------------------------------------------------------------------- whole runs


@dataclass
class MemberResult:
    """What became of one member: ``status`` is ``done``, ``resumed`` or ``failed: …``."""

    member: Member
    status: str
    run_dir: Path | None = None
    row: dict[str, str] = field(default_factory=dict)


@dataclass
class BatchResult:
    """A finished batch: its spec, output directory and members' results in spec order."""

    batch: BatchSpec
    out_dir: Path
    results: list[MemberResult]

    @property
    def failed(self) -> list[MemberResult]:
        return [r for r in self.results if r.status.startswith("failed")]


def completed_run(member_root: Path, digest: str) -> Path | None:
    """The newest complete run directory (``manifest.json`` present) of a config digest."""
    found = []
    for path in sorted(member_root.glob("*/manifest.json")):
        if path.parent.name.startswith("."):
            continue
        try:
            recorded = read_manifest(path.parent).config_sha256
        except ReddsimError:
            continue
        if recorded == digest:
            found.append(path.parent)
    return found[-1] if found else None


def _execute_member(
    spec: RunSpec,
    out_root: str,
    digest: str,
    numba_threads: int | None,
    posterior_cache: bool = True,
) -> tuple[str, str]:
    """Task on a worker: run the pipeline; ``("done", run_dir)`` or ``("failed: …", "")``.

    A :class:`ReddsimError` (e.g. the convergence gate) is the member's outcome, not a
    reason to retry; anything else raises and Dask retries it.

    The task is idempotent: Dask recomputes a finished task whose result lived on a worker
    that died, and a member whose complete run of the same config digest is already in
    ``out_root`` returns that run instead of writing a second one (the numbers would be
    bit-identical, the directory would not).
    """
    from simulator.orchestration.pipeline import run

    found = completed_run(Path(out_root), digest)
    if found is not None:
        return "done", str(found)

    # PyMC announces every sampler start on the worker's stderr; the run's log has it all
    for name in ("pymc", "pytensor", "arviz"):
        logging.getLogger(name).setLevel(logging.ERROR)
    set_numba_threads(numba_threads)
    try:
        outcome = run(spec, Path(out_root), posterior_cache=posterior_cache)
    except ReddsimError as err:
        return f"failed: {err}", ""
    return "done", str(outcome.out_dir)


def _remove_incomplete(member_root: Path) -> None:
    """Remove what a killed worker left (``.incomplete-*``) and an empty member directory."""
    if not member_root.is_dir():
        return
    for tmp in member_root.glob(".incomplete-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    if not any(member_root.iterdir()):
        member_root.rmdir()


def plan_members(
    batch: BatchSpec, out_dir: Path, resume: bool
) -> tuple[list[MemberResult], list[Member]]:
    """Split the members into those already complete (``resumed``) and those to run.

    Creates ``out_dir`` and removes partial run directories (``.incomplete-*``) that an
    interrupted batch left. Without ``resume``, an ``out_dir`` holding a batch is an error.
    """
    out_dir = Path(out_dir)
    previous = [m.name for m in batch.members if (out_dir / m.name).exists()]
    if not resume and ((out_dir / "batch.json").exists() or previous):
        raise ReddsimError(
            f"{out_dir}: already holds a batch ({', '.join(previous) or 'batch.json'}); "
            "add --resume to finish it, or choose another --out"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    resumed: list[MemberResult] = []
    todo: list[Member] = []
    for m in batch.members:
        _remove_incomplete(out_dir / m.name)
        found = completed_run(out_dir / m.name, m.digest) if resume else None
        if found is not None:
            resumed.append(MemberResult(m, "resumed", found))
        else:
            todo.append(m)
    return resumed, todo


def run_batch(
    batch: BatchSpec,
    out_dir: Path,
    client,
    resume: bool = False,
    on_member: Callable[[MemberResult], None] | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    numba_threads: int | None = None,
    posterior_cache: bool = True,
) -> BatchResult:
    """Run every member of ``batch`` on ``client``'s cluster into ``out_dir``.

    Members other than the huge one run as one task each on the workers; the huge
    run then samples in this process and simulates its chunks on the cluster
    (:func:`dask_runner`). Each member writes ``out_dir/<name>/<run-id>/``.

    Parameters
    ----------
    resume : bool
        Skip members whose directory holds a complete run of the same config
        digest (status ``resumed``); without it, an ``out_dir`` that already holds
        a batch is an error.
    on_member : callable, optional
        Called with each member's result as it finishes.
    on_chunk, on_stage : callable, optional
        Progress of the huge run: ``(chunks done, planned)``, and its stages.
    numba_threads : int, optional
        numba threads of each task on the workers (:func:`local_numba_threads` for a
        LocalCluster; default: the workers' own ``NUMBA_NUM_THREADS``).
    posterior_cache : bool
        Members reuse (and store) posteriors in the posterior cache (as
        :func:`simulator.orchestration.pipeline.run`); false samples every member.

    Returns
    -------
    BatchResult
        Also written as ``batch_summary.csv`` and ``batch.json`` in ``out_dir``.
    """
    from distributed import as_completed

    from simulator.orchestration.pipeline import run as run_pipeline

    out_dir = Path(out_dir)
    resumed, todo = plan_members(batch, out_dir, resume)
    results = {r.member.name: r for r in resumed}
    for r in resumed:
        if on_member is not None:
            on_member(r)
    futures = {}
    try:
        for m in todo:
            if not m.huge:
                fut = client.submit(
                    _execute_member,
                    m.spec,
                    str(out_dir / m.name),
                    m.digest,
                    numba_threads,
                    posterior_cache,
                    key=f"reddsim-run-{m.name}-{m.digest[:8]}-{os.urandom(4).hex()}",
                    retries=batch.retries,
                    pure=False,
                )
                futures[fut] = m
        for fut in as_completed(list(futures)):
            m = futures.pop(fut)
            status, run_dir = fut.result()
            fut.release()  # nothing left for the scheduler to recompute if a worker dies
            results[m.name] = MemberResult(m, status, Path(run_dir) if run_dir else None)
            _remove_incomplete(out_dir / m.name)
            if on_member is not None:
                on_member(results[m.name])
        for m in todo:
            if m.huge:
                runner = dask_runner(
                    client, batch.max_in_flight, batch.retries, on_chunk, numba_threads
                )
                try:
                    outcome = run_pipeline(
                        m.spec,
                        out_dir / m.name,
                        progress=on_stage,
                        runner=runner,
                        posterior_cache=posterior_cache,
                    )
                    results[m.name] = MemberResult(m, "done", outcome.out_dir)
                except ReddsimError as err:
                    results[m.name] = MemberResult(m, f"failed: {err}")
                if on_member is not None:
                    on_member(results[m.name])
    except BaseException:
        client.cancel(list(futures))
        raise
    ordered = [results[m.name] for m in batch.members]
    for r in ordered:
        r.row = _summary_row(r)
    result = BatchResult(batch, out_dir, ordered)
    _write_summary(result)
    return result


def cleanup_interrupted(batch: BatchSpec, out_dir: Path) -> None:
    """After an interruption: remove partial run directories, keep the complete ones."""
    for m in batch.members:
        _remove_incomplete(Path(out_dir) / m.name)
    if Path(out_dir).is_dir() and not any(Path(out_dir).iterdir()):
        Path(out_dir).rmdir()


def _summary_row(r: MemberResult) -> dict[str, str]:
    """One ``batch_summary.csv`` row, numbers copied from the run's own tables."""
    row = dict.fromkeys(SUMMARY_COLUMNS, "")
    sim = r.member.spec.config.simulation
    row.update(
        name=r.member.name,
        status=r.status,
        config_sha256=r.member.digest,
        seed=str(sim.seed),
        n_draws=str(sim.n_draws),
        standard=r.member.spec.config.accounting.standard,
        overrides=json.dumps(r.member.overrides, sort_keys=True, separators=(",", ":")),
    )
    if r.run_dir is None:
        return row
    row.update(run_dir=str(r.run_dir), n_draws=str(read_manifest(r.run_dir).n_draws))
    with open(r.run_dir / "tables" / "summary.csv", newline="", encoding="utf-8") as fh:
        total = next(rec for rec in csv.DictReader(fh) if rec["period"] == "total")
    for col in SUMMARY_COLUMNS[7:13]:
        row[col] = total[col]
    from simulator.accounting.standards import STANDARDS

    row["confidence"] = repr(float(STANDARDS[row["standard"]].confidence))
    return row


def _write_summary(result: BatchResult) -> None:
    """``batch_summary.csv`` and ``batch.json``, each written beside and renamed into place."""
    out = result.out_dir
    with (
        atomic_path(out / "batch_summary.csv") as tmp,
        open(tmp, "w", newline="", encoding="utf-8") as fh,
    ):
        writer = csv.DictWriter(fh, SUMMARY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(r.row for r in result.results)
    manifest = {
        "batch": str(result.batch.path),
        "name": result.batch.name,
        "members": [
            {
                **{k: r.row[k] for k in SUMMARY_COLUMNS if k != "overrides"},
                "overrides": r.member.overrides,
                "config_path": str(r.member.spec.path),
                "huge": r.member.huge,
            }
            for r in result.results
        ],
    }
    write_text(out / "batch.json", json.dumps(manifest, indent=2) + "\n")
