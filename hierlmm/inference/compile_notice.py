"""A visible notice while a model compiles, shown only when compiling takes a while.

A first fit of a model structure compiles its log-density (10-30 s for nutpie's numba
backend); until now nothing appeared before the sampler's progress bar. Inside
:func:`compile_notice`, a timer waits :data:`NOTICE_AFTER_S` seconds; if compiling is
still running then, a notice appears and stays until it ends:

- in a Jupyter notebook, an output line ``Compiling the model ... 4 s`` updated in place
  (``IPython.display`` with a display id) and ending as ``Compiled the model in 12.3 s``;
- on a terminal, a rich spinner on stderr (as PyMC's progress bars), replaced by one
  ``Compiled the model in 12.3 s`` line when done;
- elsewhere (output redirected to a file or a pipe) nothing, as progress bars do.

A cached model compiles in milliseconds and shows nothing. ``progress=False`` in
:func:`hierlmm.fit` turns the notice off with every other progress output. The library
never calls ``print``: the notice goes through rich's console or IPython's display.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

NOTICE_AFTER_S = 1.5
"""Seconds of compiling after which the notice appears."""
REFRESH_S = 0.5
"""Seconds between two updates of the notebook line."""
MESSAGE = "Compiling the model (first fit of this model structure)"


def in_notebook() -> bool:
    """Whether the code runs in a Jupyter kernel (IPython is imported and a kernel runs)."""
    ipython_module = sys.modules.get("IPython")
    if ipython_module is None:
        return False
    shell = ipython_module.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def terminal_console() -> Any:
    """A rich console on stderr, or ``None`` when stderr is not an interactive terminal."""
    from rich.console import Console

    console = Console(stderr=True)
    return console if console.is_terminal else None


class _NotebookNotice:
    """One output line in a notebook, updated in place until :meth:`stop`."""

    def __init__(self, started: float) -> None:
        from IPython.display import display

        self.started = started
        self.handle = display(self._text(f"{MESSAGE} ..."), display_id=True)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._refresh, daemon=True)
        self.thread.start()

    @staticmethod
    def _text(line: str) -> Any:
        from IPython.display import Pretty

        return Pretty(line)

    def _refresh(self) -> None:
        while not self.done.wait(REFRESH_S):
            elapsed = time.perf_counter() - self.started
            self.handle.update(self._text(f"{MESSAGE} ... {elapsed:.0f} s"))

    def stop(self, seconds: float) -> None:
        self.done.set()
        self.thread.join()
        self.handle.update(self._text(f"Compiled the model in {seconds:.1f} s"))


class _TerminalNotice:
    """A rich spinner on stderr until :meth:`stop`, then one summary line."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.status = console.status(f"{MESSAGE} ...", spinner="dots")
        self.status.start()

    def stop(self, seconds: float) -> None:
        self.status.stop()
        self.console.print(f"Compiled the model in {seconds:.1f} s", highlight=False)


def _show(started: float) -> _NotebookNotice | _TerminalNotice | None:
    if in_notebook():
        return _NotebookNotice(started)
    console = terminal_console()
    return None if console is None else _TerminalNotice(console)


@contextlib.contextmanager
def compile_notice(enabled: bool, *, after_s: float | None = None) -> Iterator[None]:
    """Show a notice if the block (a compile) runs longer than ``after_s`` seconds.

    Parameters
    ----------
    enabled : bool
        ``progress`` of :func:`hierlmm.fit`; ``False`` shows nothing.
    after_s : float, optional
        Delay before the notice appears; :data:`NOTICE_AFTER_S` when omitted.

    Examples
    --------
    >>> with compile_notice(enabled=False):
    ...     pass
    """
    if not enabled:
        yield
        return
    started = time.perf_counter()
    lock = threading.Lock()
    state: dict[str, Any] = {"notice": None, "finished": False}

    def appear() -> None:
        with lock:
            if not state["finished"]:
                state["notice"] = _show(started)

    timer = threading.Timer(NOTICE_AFTER_S if after_s is None else after_s, appear)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            state["finished"] = True
            notice = state["notice"]
        if notice is not None:
            notice.stop(time.perf_counter() - started)
