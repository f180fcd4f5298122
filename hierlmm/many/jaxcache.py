"""Exported JAX batch samplers kept on disk, so a new worker process skips tracing.

A fit_many worker on the JAX path spends ~30 s before its first draw: PyTensor's JAX
rewrites of the log-density (~3 s), tracing blackjax's window adaptation and NUTS under
``vmap`` (~6-9 s), and XLA's compile (the rest; JAX's persistent cache keeps that,
:func:`hierlmm.many.jaxpath._persistent_cache`). This module serializes the traced and
lowered sampler with ``jax.export`` under a digest of everything it depends on (the
model's structure key, kept variables, input names and shapes, sampler settings, batch
shape, the JAX and blackjax versions, and hierlmm's source, through
:func:`hierlmm.inference.graph_cache.digest`), so a later process deserializes it and
only compiles (or loads) the XLA executable. The first process calls the same exported
function, so draws do not depend on whether the cache was warm.

Files live in ``<pytensor compiledir>/hierlmm-jax-export``; ``HIERLMM_GRAPH_CACHE=0``
turns the cache off. A damaged file is exported again and replaced.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hierlmm.inference import graph_cache

STATS = {"hits": 0, "stores": 0, "fallbacks": 0}


def _path(key: object) -> Path:
    folder = graph_cache.cache_dir().parent / "hierlmm-jax-export"
    return folder / f"{graph_cache.digest(key, 'jax-export')}.bin"


def load(key: object) -> tuple[Callable, dict[str, Any]] | None:
    """The exported sampler's ``call`` and its metadata stored under ``key``, or None."""
    from jax import export

    path = _path(key)
    if not graph_cache.enabled() or not path.exists():
        return None
    try:
        meta, blob = pickle.loads(path.read_bytes())
        exported = export.deserialize(bytearray(blob))
    except Exception:  # damaged or from another JAX: exported again by the caller
        STATS["fallbacks"] += 1
        return None
    STATS["hits"] += 1
    return exported.call, meta


def export_and_store(key: object, jitted: Callable, specs: list,
                     meta: dict[str, Any]) -> Callable:
    """Export ``jitted`` for argument ``specs`` (``jax.ShapeDtypeStruct``), keep it under
    ``key`` with ``meta`` when caching is on, and return the exported ``call``."""
    from jax import export

    exported = export.export(jitted)(*specs)
    if graph_cache.enabled():
        try:
            blob = bytes(exported.serialize())  # needs flatbuffers (the ``many`` extra)
        except ImportError:
            return exported.call
        blob = pickle.dumps((meta, blob), protocol=pickle.HIGHEST_PROTOCOL)
        if graph_cache.write_atomically(_path(key), blob):
            STATS["stores"] += 1
    return exported.call

