"""Ctrl-C during sampling: never hand back a partial posterior as if it were complete.

nutpie and PyMC both catch ``KeyboardInterrupt`` while sampling and return the draws made
so far (PyMC: the chains finished; nutpie: a trace cut short), which later steps then
report as a finished fit or fail on with unrelated errors. :class:`InterruptGuard`
records a SIGINT that arrives inside its block and turns the block's outcome (a result
or any error) into ``KeyboardInterrupt``.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType

REPEAT_S = 0.5  # after a Ctrl-C, interrupt the sampler again this often until it returns


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class InterruptGuard:
    """Record SIGINT inside a ``with`` block and re-raise it as ``KeyboardInterrupt``.

    The previous SIGINT handler still runs (by default it raises ``KeyboardInterrupt``,
    so the sampler stops as early as it can), and ``KeyboardInterrupt`` is raised again
    every :data:`REPEAT_S` seconds (SIGALRM) until the block ends, as PyMC catches it
    per chain and would go on with the next one. A repeat that lands where Python cannot
    raise (a weakref callback or finalizer run by the garbage collector) would be printed
    as "Exception ignored"; until the block ends such interrupts are dropped silently (the
    next repeat follows). Outside the main thread, where Python cannot install signal
    handlers, the guard does nothing.
    """

    def __init__(self) -> None:
        self.interrupted = False
        self._installed = False
        self._previous: object = None
        self._previous_alarm: object = signal.SIG_DFL
        self._previous_hook: object = None

    def _unraisable(self, unraisable) -> None:
        """Drop interrupts raised where they cannot propagate; pass on anything else."""
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            self._previous_hook(unraisable)  # type: ignore[operator]

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.interrupted:  # PyMC may catch it in one chain and start the next:
            self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
            signal.signal(signal.SIGALRM, _raise_interrupt)  # interrupt again until done
            signal.setitimer(signal.ITIMER_REAL, REPEAT_S, REPEAT_S)
        self.interrupted = True
        previous = self._previous
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            self._previous_alarm = signal.getsignal(signal.SIGALRM)
            signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous_alarm)  # type: ignore[arg-type]
            restore = self._previous if self._previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, restore)  # type: ignore[arg-type]
            self._installed = False
        if self._previous_hook is not None:
            sys.unraisablehook = self._previous_hook  # type: ignore[assignment]
            self._previous_hook = None
        if self.interrupted and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt("interrupted while sampling") from exc
