"""Dask for reddsim: a client on a LocalCluster or a given scheduler, and the chunk runner.

:func:`dask_runner` is a ``runner`` for :func:`simulator.engine.streaming.stream`:
it puts the kernel inputs on the cluster once, submits
:func:`~simulator.engine.streaming.simulate_chunk` for each ``(draw_start, n)`` of
the plan and yields the statistics as they complete. Worker threads: see
:func:`local_numba_threads`.

The inputs are scattered to the workers. Dask's active memory manager drops
replicas it deems surplus, so even a broadcast scatter may live on one worker
only, and scattered data lost with its workers cannot be recomputed: the chunks
that need it are cancelled. The runner then scatters the inputs again and
resubmits those chunks (a chunk is a pure function of inputs, seed and draw
range, so a resubmitted chunk is identical). The inputs are not put in the task
graph instead, because a graph of that size makes Dask warn on every run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager
from typing import Any

from simulator.engine.kernels import KernelInputs
from simulator.engine.streaming import ChunkStats, Grid, Runner, simulate_chunk
from simulator.errors import ReddsimError

__all__ = ["dask_runner", "open_client", "local_numba_threads", "set_numba_threads"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- chunks on Dask


def dask_runner(
    client,
    max_in_flight: int | None = None,
    retries: int = 2,
    on_chunk: Callable[[int, int], None] | None = None,
    numba_threads: int | None = None,
) -> Runner:
    """A :data:`~simulator.engine.streaming.Runner` that simulates chunks on a Dask cluster.

    Parameters
    ----------
    client : distributed.Client
    max_in_flight : int, optional
        Chunks submitted ahead of the earliest unfinished one (default: twice the
        worker threads). Results arriving early wait in draw order in
        :func:`~simulator.engine.streaming.stream`, so this bounds the driver's memory:
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
        # one copy of the inputs per worker, shared by all its chunks (module docstring)
        [shared] = client.scatter([inputs], broadcast=True)
        scatters = 1
        futures: dict[Any, tuple[int, int]] = {}  # future -> (chunk, scatter it used)
        done = [False] * len(plan)
        first_unfinished = next_index = 0
        pending = as_completed()

        def submit(index: int) -> None:
            start, n = plan[index]
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
            futures[fut] = (index, scatters)
            pending.add(fut)

        def submit_up_to_window():
            nonlocal next_index
            while next_index < len(plan) and next_index < first_unfinished + window:
                submit(next_index)
                next_index += 1

        try:
            submit_up_to_window()
            n_done = 0
            for fut in pending:
                index, used = futures.pop(fut)
                try:
                    stats = fut.result()
                except CancelledError:  # its inputs were lost with every worker holding them
                    if scatters - 1 > retries:
                        raise
                    if used == scatters:  # once per loss, however many chunks it cancelled
                        shared.release()
                        [shared] = client.scatter([inputs], broadcast=True)
                        scatters += 1
                        log.warning("kernel inputs lost with their workers: scattered again")
                    submit(index)
                    continue
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


def set_numba_threads(threads: int | None) -> None:
    # numba's thread count is per launching thread: this sets it for the task's thread
    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _chunk_task(
    inputs: KernelInputs, seed: int, start: int, n: int, grid: Grid, numba_threads: int | None
) -> ChunkStats:
    """Task on a worker: :func:`~simulator.engine.streaming.simulate_chunk`, its threads set."""
    set_numba_threads(numba_threads)
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
