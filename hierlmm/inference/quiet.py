"""Silence a library's INFO chatter (PyMC's "Initializing NUTS ...") when asked to."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_info(name: str, enabled: bool) -> Iterator[None]:
    """Raise logger ``name`` to WARNING inside the block when ``enabled``; restore after.

    Parameters
    ----------
    name : str
        Logger name, e.g. ``"pymc"`` (its children follow it unless they set a level).
    enabled : bool
        ``progress=False`` in :func:`hierlmm.fit`: no progress output of any kind.
    """
    logger = logging.getLogger(name)
    previous = logger.level
    if enabled and logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)
