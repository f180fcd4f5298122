"""Where chunks run: in this process, in local worker processes, or on a Dask cluster.

Every executor yields :class:`~hierlmm.many.worker.ChunkResult` as chunks finish, so the
caller can store and count them at once. Worker processes live for the whole batch, so
each compiles the model once (spawned processes: nothing is inherited from the caller).
Local workers share the cores out (:func:`worker_threads` numba threads each, which is
also how many threads an all-factor fit evaluates proposals on,
:mod:`hierlmm.engines.threads`); a Dask task runs its numba kernels on one thread, as
Dask already runs a task per worker thread.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from hierlmm.engines.threads import limited_threads, share_threads
from hierlmm.errors import SpecError
from hierlmm.many.worker import ChunkResult, Task, run_chunk

EXECUTORS = ("serial", "processes")


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def check_executor(executor: object) -> object:
    """``"processes"`` for None; a name, a Dask client or a scheduler address."""
    if executor is None:
        return "processes"
    if isinstance(executor, str) and (executor in EXECUTORS or "://" in executor):
        return executor
    if type(executor).__name__ == "Client" and hasattr(executor, "submit"):
        return executor
    raise SpecError(f"executor={executor!r} must be 'serial', 'processes', a "
                    "dask.distributed.Client or a scheduler address such as "
                    "'tcp://10.0.0.1:8786'")


def serial(tasks: Sequence[Task]) -> Iterator[ChunkResult]:
    """Chunks one after another in this process."""
    for task in tasks:
        yield run_chunk(task)


def worker_threads(workers: int) -> int:
    """numba threads for each of ``workers`` local processes: the cores shared out."""
    return max(1, default_workers() // max(1, workers))


def processes(tasks: Sequence[Task], workers: int) -> Iterator[ChunkResult]:
    """Chunks on ``workers`` spawned local processes, yielded as they finish."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=share_threads, initargs=(worker_threads(workers),))
    try:
        futures = [pool.submit(run_chunk, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_chunk_on_one_thread(task: Task) -> ChunkResult:
    """:func:`~hierlmm.many.worker.run_chunk` with numba kernels on this thread only."""
    with limited_threads(1):
        return run_chunk(task)


def dask(tasks: Sequence[Task], client_or_address: object) -> Iterator[ChunkResult]:
    """Chunks as Dask tasks on a ``distributed`` cluster, yielded as they finish."""
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise SpecError('a Dask executor needs: pip install "hierlmm[many]"') from exc
    own = isinstance(client_or_address, str)
    client = Client(client_or_address) if own else client_or_address
    try:
        futures = client.map(run_chunk_on_one_thread, list(tasks), pure=False)
        try:
            for future in dask_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)
    finally:
        if own:
            client.close()


def run_tasks(tasks: Sequence[Task], executor: object, workers: int) -> Iterator[ChunkResult]:
    """Dispatch ``tasks`` to the executor chosen by :func:`check_executor`."""
    if not tasks:
        return iter(())
    if executor == "serial":
        return serial(tasks)
    if executor == "processes":
        return processes(tasks, workers)
    return dask(tasks, executor)
