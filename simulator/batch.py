"""Batches of runs, and huge runs, on a dask.distributed cluster.

Two kinds of parallel work, both exact:

* **Chunks of one run.** :func:`dask_runner` is a ``runner`` for
  :func:`simulator.streaming.stream`: it scatters the kernel inputs to the workers
  once, submits :func:`~simulator.streaming.simulate_chunk` for each
  ``(draw_start, n)`` of the plan and yields the statistics as they complete. A
  chunk is a pure function of (inputs, seed, draw range) and the statistics merge
  exactly, so the summary is bit-identical to a serial run whatever the order,
  the worker, or a lost worker's chunk being recomputed.
* **Whole runs.** :func:`run_batch` runs each member of a batch spec
  (:func:`load_batch`) as one task calling :func:`simulator.pipeline.run` on a
  worker process (PyMC and nutpie compile models, so processes, not threads). A
  member writes a normal, atomic run directory under ``<out>/<member>/``; the
  batch writes ``batch_summary.csv`` and ``batch.json`` beside them.

Threads: a LocalCluster worker runs one task at a time (``threads_per_worker=1``)
and its tasks use ``CPUs // workers`` numba threads (``numba_threads``: set with
:func:`numba.set_num_threads` inside the task, because a worker process imports
numba before a worker's environment would take effect), so ``N`` workers use the
machine's cores without oversubscribing them. On a cluster of your own, start
workers with ``--nthreads 1`` and ``NUMBA_NUM_THREADS`` set to the cores each may
use. Thread counts never change the numbers.

A batch spec (TOML)::

    schema_version = 1
    [batch]
    name = "scenarios"         # default: the file's stem
    retries = 2                # re-runs of a task that raised an unexpected error

    [[runs]]                   # one member
    name = "base"
    config = "."               # run directory or its TOML, relative to this file
    seed = 7                   # optional: n_draws, mc_tolerance too
    set = { "deforestation.effectiveness" = { alpha = 10, beta = 5 } }

    [[sweeps]]                 # cartesian product of the values: members eff-00, eff-01, ...
    name = "eff"
    config = "."
    over = { "deforestation.effectiveness.alpha" = [8, 14], seed = [1, 2] }

    [huge]                     # optional: one run whose chunks are spread over the cluster
    config = "."
    n_draws = 100_000_000
"""

from __future__ import annotations

import csv
import difflib
import itertools
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulator.config import RunSpec, load_config, read_toml, validate_config
from simulator.errors import ConfigError, ReddsimError
from simulator.kernels import KernelInputs
from simulator.streaming import ChunkStats, Grid, Runner, simulate_chunk

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

#: Simulation settings a member may set by name (the rest through dotted ``set`` keys).
_SHORTCUTS = {
    "seed": "simulation.seed",
    "n_draws": "simulation.n_draws",
    "mc_tolerance": "simulation.mc_tolerance",
    "chunk_size": "simulation.chunk_size",
}


# --------------------------------------------------------------------------- the spec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


class _MemberFields(_Strict):
    config: Annotated[Path, Field(description="run directory or TOML, relative to the batch file")]
    seed: Annotated[int | None, Field(ge=0, lt=2**63)] = None
    n_draws: Annotated[int | None, Field(ge=100, le=10**10)] = None
    mc_tolerance: Annotated[float | None, Field(gt=0, lt=1)] = None
    overrides: Annotated[
        dict[str, Any], Field(alias="set", description="dotted run.toml keys and their values")
    ] = {}


class RunEntry(_MemberFields):
    """``[[runs]]``: one member."""

    name: Name


class SweepEntry(_MemberFields):
    """``[[sweeps]]``: one member per combination of the ``over`` values."""

    name: Name
    over: Annotated[dict[str, Annotated[list[Any], Field(min_length=1)]], Field(min_length=1)]


class HugeEntry(_MemberFields):
    """``[huge]``: one run whose draws are split into chunks across the cluster."""

    name: Name = "huge"
    chunk_size: Annotated[int | None, Field(ge=1)] = None


class BatchSettings(_Strict):
    name: Name | None = None
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    max_in_flight: Annotated[int | None, Field(ge=1, le=10_000)] = None


class BatchFile(_Strict):
    """The whole batch TOML."""

    schema_version: Literal[1]
    batch: BatchSettings = BatchSettings()
    runs: list[RunEntry] = []
    sweeps: list[SweepEntry] = []
    huge: HugeEntry | None = None

    @model_validator(mode="after")
    def _some_member(self):
        if not (self.runs or self.sweeps or self.huge):
            raise ValueError("a batch needs [[runs]], [[sweeps]] or [huge]")
        return self


@dataclass(frozen=True)
class Member:
    """One run of a batch: its name, validated spec and the overrides that made it."""

    name: str
    spec: RunSpec
    overrides: dict[str, Any]
    huge: bool = False

    @property
    def digest(self) -> str:
        return self.spec.config.digest()


@dataclass(frozen=True)
class BatchSpec:
    """A validated batch: settings and members in file order (runs, sweeps, huge)."""

    path: Path
    name: str
    retries: int
    max_in_flight: int | None
    members: list[Member]


def load_batch(path: str | Path) -> BatchSpec:
    """Read and validate a batch spec and every member's configuration.

    Raises
    ------
    ConfigError
        One line naming the file, the field and the value.
    """
    path = Path(path)
    raw = read_toml(path, "batch spec")
    try:
        spec = BatchFile.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{path}: " + "; ".join(_describe(e) for e in err.errors())) from err
    members: list[Member] = []
    for i, entry in enumerate(spec.runs):
        members.append(_member(path, f"[runs][{i}]", entry.name, entry, {}))
    for i, entry in enumerate(spec.sweeps):
        keys = list(entry.over)
        for j, values in enumerate(itertools.product(*(entry.over[k] for k in keys))):
            name = f"{entry.name}-{j:02d}"
            members.append(
                _member(path, f"[sweeps][{i}]", name, entry, dict(zip(keys, values, strict=True)))
            )
    if spec.huge is not None:
        members.append(_member(path, "[huge]", spec.huge.name, spec.huge, {}, huge=True))
    names = [m.name for m in members]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: member names must be unique, repeated: {', '.join(dupes)}")
    return BatchSpec(
        path, spec.batch.name or path.stem, spec.batch.retries, spec.batch.max_in_flight, members
    )


def _member(
    batch_path: Path, where: str, name: str, entry, extra: dict, huge: bool = False
) -> Member:
    origin = f"{batch_path} {where} {name!r}"
    try:
        base = load_config(batch_path.parent / entry.config)
    except ConfigError as err:
        raise ConfigError(f"{origin}.config: {err}") from err
    settings = {k: getattr(entry, k, None) for k in _SHORTCUTS}
    overrides = {
        **{_SHORTCUTS[k]: v for k, v in settings.items() if v is not None},
        **entry.overrides,
        **{_SHORTCUTS.get(k, k): v for k, v in extra.items()},
    }
    raw = base.config.model_dump(mode="json")
    for key, value in overrides.items():
        _assign(raw, key, value, f"{origin}: {key!r}")
    try:
        config = validate_config(raw, base.path)
    except ConfigError as err:
        raise ConfigError(f"{origin}: {err}") from err
    return Member(name, RunSpec(config, base.path), overrides, huge)


def _assign(raw: dict, dotted: str, value: Any, where: str) -> None:
    """Set ``raw[a][b][c] = value`` for ``"a.b.c"``; every key must already exist."""
    parts = dotted.split(".")
    if parts[0] == "data":
        raise ConfigError(
            f"{where}: [data] files cannot be overridden in a batch (make a run directory)"
        )
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{where}: {part!r} is not an index of a {len(node)}-item list")
            key: Any = int(part)
        elif isinstance(node, dict) and part in node:
            key = part
        else:
            known = list(node) if isinstance(node, dict) else []
            hint = difflib.get_close_matches(part, known, n=1)
            did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"{where}: no config field {part!r}{did_you_mean}")
        if last:
            node[key] = value
        else:
            node = node[key]


def _describe(error: dict) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        known = _known_fields(error["loc"][:-1])
        hint = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        return f"{loc}: unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
    if error["type"] == "missing":
        return f"{loc}: required field is missing"
    msg = error["msg"].removeprefix("Value error, ")
    return f"{loc} = {error.get('input')!r}: {msg}" if loc else msg


def _known_fields(loc: tuple) -> list[str]:
    models = {"batch": BatchSettings, "runs": RunEntry, "sweeps": SweepEntry, "huge": HugeEntry}
    model = models.get(loc[0]) if loc else BatchFile
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


# --------------------------------------------------------------------------- chunks on Dask


def dask_runner(
    client,
    max_in_flight: int | None = None,
    retries: int = 2,
    on_chunk: Callable[[int, int], None] | None = None,
    numba_threads: int | None = None,
) -> Runner:
    """A :data:`~simulator.streaming.Runner` that simulates chunks on a Dask cluster.

    Parameters
    ----------
    client : distributed.Client
    max_in_flight : int, optional
        Chunks submitted ahead of the earliest unfinished one (default: twice the
        worker threads). Results arriving early wait in draw order in
        :func:`~simulator.streaming.stream`, so this bounds the driver's memory:
        at most ``max_in_flight`` chunk statistics (about 3 MB each) are held.
    retries : int
        Re-runs of a chunk whose task raised (a lost worker's chunk is rescheduled
        by the scheduler anyway). A chunk is a pure function of (inputs, seed,
        draw range), so a recomputed chunk is identical.
    on_chunk : callable, optional
        Called with ``(chunks done, chunks planned)`` after each chunk.
    numba_threads : int, optional
        numba threads of each chunk task (default: the worker's own setting).

    Returns
    -------
    callable
        ``runner(inputs, seed, plan, grid)`` yielding ``(draw_start, ChunkStats)``
        as chunks complete.
    """
    from distributed import as_completed

    def run(
        inputs: KernelInputs, seed: int, plan: list[tuple[int, int]], grid: Grid
    ) -> Iterator[tuple[int, ChunkStats]]:
        if not plan:
            return
        window = max_in_flight or max(2, 2 * sum(client.nthreads().values()))
        # one copy of the inputs per worker, shared by all its chunks
        [shared] = client.scatter([inputs], broadcast=True)
        futures: dict[Any, int] = {}
        done = [False] * len(plan)
        first_unfinished = next_index = 0
        pending = as_completed()

        def submit_up_to_window():
            nonlocal next_index
            while next_index < len(plan) and next_index < first_unfinished + window:
                start, n = plan[next_index]
                fut = client.submit(
                    _chunk_task,
                    shared,
                    seed,
                    start,
                    n,
                    grid,
                    numba_threads,
                    retries=retries,
                    pure=False,
                )
                futures[fut] = next_index
                pending.add(fut)
                next_index += 1

        try:
            submit_up_to_window()
            n_done = 0
            for fut in pending:
                index = futures.pop(fut)
                stats = fut.result()
                fut.release()
                done[index] = True
                n_done += 1
                while first_unfinished < len(plan) and done[first_unfinished]:
                    first_unfinished += 1
                submit_up_to_window()
                if on_chunk is not None:
                    on_chunk(n_done, len(plan))
                yield plan[index][0], stats
        finally:
            client.cancel(list(futures))
            shared.release()

    return run


def _set_numba_threads(threads: int | None) -> None:
    # numba's thread count is per launching thread: this sets it for the task's thread
    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _chunk_task(
    inputs: KernelInputs, seed: int, start: int, n: int, grid: Grid, numba_threads: int | None
) -> ChunkStats:
    """Task on a worker: :func:`~simulator.streaming.simulate_chunk` with its thread count."""
    _set_numba_threads(numba_threads)
    return simulate_chunk(inputs, seed, start, n, grid)


def local_numba_threads(workers: int | None) -> int:
    """numba threads per task on a LocalCluster of ``workers`` one-thread workers."""
    cpus = os.cpu_count() or 1
    return max(1, cpus // (workers or cpus))


@contextmanager
def open_client(scheduler: str | None = None, workers: int | None = None):
    """A ``distributed.Client``: to ``scheduler``, else to a new process-based LocalCluster.

    The LocalCluster has ``workers`` processes (default: the CPU count) of one
    thread each; give its tasks :func:`local_numba_threads` numba threads.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise ReddsimError(f"--scheduler {scheduler}: cannot connect ({err})") from err
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


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
    for manifest in sorted(member_root.glob("*/manifest.json")):
        if manifest.parent.name.startswith("."):
            continue
        try:
            recorded = json.loads(manifest.read_text(encoding="utf-8")).get("config_sha256")
        except (OSError, ValueError):
            continue
        if recorded == digest:
            found.append(manifest.parent)
    return found[-1] if found else None


def _execute_member(spec: RunSpec, out_root: str, numba_threads: int | None) -> tuple[str, str]:
    """Task on a worker: run the pipeline; ``("done", run_dir)`` or ``("failed: …", "")``.

    A :class:`ReddsimError` (e.g. the convergence gate) is the member's outcome, not a
    reason to retry; anything else raises and Dask retries it.
    """
    from simulator.pipeline import run

    # PyMC announces every sampler start on the worker's stderr; the run's log has it all
    for name in ("pymc", "pytensor", "arviz"):
        logging.getLogger(name).setLevel(logging.ERROR)
    _set_numba_threads(numba_threads)
    try:
        outcome = run(spec, Path(out_root))
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

    Returns
    -------
    BatchResult
        Also written as ``batch_summary.csv`` and ``batch.json`` in ``out_dir``.
    """
    from distributed import as_completed

    from simulator.pipeline import run as run_pipeline

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
                    numba_threads,
                    key=f"reddsim-run-{m.name}-{m.digest[:8]}-{os.urandom(4).hex()}",
                    retries=batch.retries,
                    pure=False,
                )
                futures[fut] = m
        for fut in as_completed(list(futures)):
            m = futures.pop(fut)
            status, run_dir = fut.result()
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
                        m.spec, out_dir / m.name, progress=on_stage, runner=runner
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
    manifest = json.loads((r.run_dir / "manifest.json").read_text(encoding="utf-8"))
    row.update(run_dir=str(r.run_dir), n_draws=str(manifest["n_draws"]))
    with open(r.run_dir / "tables" / "summary.csv", newline="", encoding="utf-8") as fh:
        total = next(rec for rec in csv.DictReader(fh) if rec["period"] == "total")
    for col in SUMMARY_COLUMNS[7:13]:
        row[col] = total[col]
    from simulator.standards import STANDARDS

    row["confidence"] = repr(float(STANDARDS[row["standard"]].confidence))
    return row


def _write_summary(result: BatchResult) -> None:
    """``batch_summary.csv`` and ``batch.json``, each written beside and renamed into place."""
    out = result.out_dir
    tmp = out / ".batch_summary.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, SUMMARY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(r.row for r in result.results)
    tmp.replace(out / "batch_summary.csv")
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
    tmp = out / ".batch.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / "batch.json")
