"""Evaluating expensive log-densities on several threads side by side.

The all-factor likelihood of a large crossed design (:mod:`.collapsed.allfactor`) spends
most of a call in one dense Cholesky factorisation, which runs on one BLAS thread (the
samplers pin BLAS to one thread, see :mod:`hierlmm.inference.samplers`) and releases
the GIL. Work whose items are independent (the independence sampler's proposals, the
effect draws after a fit) therefore runs on :func:`evaluation_threads` threads, one item
at a time each, and gets close to that many times the throughput.

Inside such a thread numba's parallel kernels must not be launched (numba's default
threading layer is not safe to enter from two threads at once), so kernels that have a
parallel form ask :func:`in_worker` and run their serial twin there. Both forms do the
same arithmetic in the same order, so results do not depend on the number of threads.

Examples
--------
>>> out = [0] * 4
>>> def square(i):
...     out[i] = i * i
>>> for_each_index(4, [square, square])
>>> out
[0, 1, 4, 9]
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence

import numba

_LOCAL = threading.local()


def evaluation_threads() -> int:
    """Threads for independent expensive evaluations: numba's thread count
    (``NUMBA_NUM_THREADS``, by default every core)."""
    return max(1, int(numba.get_num_threads()))


@contextlib.contextmanager
def limited_threads(n: int) -> Iterator[None]:
    """Within the block, this thread launches numba kernels (and so
    :func:`evaluation_threads`) on at most ``n`` threads (numba's count is per thread);
    for work that already runs side by side with other such work (``fit_many``'s
    workers), so the cores are shared, not oversubscribed. With ``n = 1`` the kernels
    run their serial twins (:func:`in_worker`), as on a thread of :func:`for_each_index`:
    several threads of one process (Dask's) may then run such work at once."""
    previous = numba.get_num_threads()
    share_threads(n)
    try:
        with _worker() if int(n) <= 1 else contextlib.nullcontext():
            yield
    finally:
        numba.set_num_threads(previous)


def share_threads(n: int) -> None:
    """For the rest of this thread's life, as :func:`limited_threads` (a process pool's
    initializer: its workers run every task on the thread that ran it)."""
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def in_worker() -> bool:
    """Whether this thread is one of several running :func:`for_each_index` at once."""
    return getattr(_LOCAL, "worker", False)


@contextlib.contextmanager
def _worker() -> Iterator[None]:
    previous = in_worker()
    _LOCAL.worker = True
    try:
        yield
    finally:
        _LOCAL.worker = previous


def for_each_index(n: int, handlers: Sequence[Callable[[int], None]]) -> None:
    """Call ``handlers[w](i)`` once for every ``i`` in ``range(n)``, handler ``w`` on
    thread ``w`` (thread 0 is the caller's), each taking the next index when done.

    With one handler (or ``n <= 1``) this is a plain loop in the caller's thread.
    Handlers must not share mutable state (one compiled function each). The first
    exception, or a ``KeyboardInterrupt`` in the caller's thread, stops every thread
    after its current index and is raised here.

    Parameters
    ----------
    n : int
    handlers : sequence of callable
        ``i -> None``, one per thread.
    """
    if len(handlers) == 1 or n <= 1:
        for i in range(n):
            handlers[0](i)
        return
    lock, stop, errors = threading.Lock(), threading.Event(), []
    counter = iter(range(n))

    def take() -> int | None:
        with lock:
            return None if stop.is_set() else next(counter, None)

    def loop(handler: Callable[[int], None]) -> None:
        with _worker():
            while (i := take()) is not None:
                handler(i)

    def guarded(handler: Callable[[int], None]) -> None:
        try:
            loop(handler)
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=guarded, args=(h,), daemon=True) for h in handlers[1:]]
    for thread in threads:
        thread.start()
    try:
        loop(handlers[0])
    except BaseException:
        stop.set()
        raise
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
