"""A progress bar for long loops (rich, as PyMC's own bars), or nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, label: str,
                 done: int = 0) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(k)``, which moves a bar of ``total`` steps on by ``k``.

    Parameters
    ----------
    enabled : bool
        False yields a function that does nothing.
    total : int
    label : str
        Shown before the bar, e.g. ``"outcomes"``.
    done : int
        Steps already done (a resumed run).
    """
    if not enabled:
        yield lambda k: None
        return
    from rich.progress import Progress

    with Progress(transient=False) as bar:
        task = bar.add_task(label, total=total, completed=done)
        yield lambda k: bar.advance(task, k)
