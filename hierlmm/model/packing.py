"""Pack a model's input arrays into one data container per dtype.

nutpie's numba backend hands every data container (``pm.Data``) to the compiled
log-density through a per-container extraction function that numba compiles inline, at
about 1-3 s of compile time per container (measured on a 200 x 6 logistic GLMM: the
C-callback compile took 46 s with its 8 containers and 27 s with none). Packing the
arrays into one flat container per dtype keeps that cost at one or two containers while
a compiled model can still be pointed at new data of the same shapes (``with_data``).

``layout = pack_layout(inputs)`` says where each named array lies; ``pack(inputs,
layout)`` gives the flat arrays, by container name; inside the model,
``unpack(containers, layout)`` gives the named arrays back as (static-shaped) views.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytensor.tensor as pt


class Slot(NamedTuple):
    """Where one named array lies: container, flat start and stop, original shape."""

    container: str
    start: int
    stop: int
    shape: tuple[int, ...]


Layout = tuple[tuple[str, Slot], ...]


def container_name(dtype: np.dtype) -> str:
    """Name of the packed container holding arrays of ``dtype``, e.g. ``packed_float64``."""
    return f"packed_{np.dtype(dtype).name}"


def pack_layout(inputs: dict[str, np.ndarray]) -> Layout:
    """The layout of ``inputs``: each name's container and slice, in sorted name order."""
    ends: dict[str, int] = {}
    slots = []
    for name in sorted(inputs):
        value = np.asarray(inputs[name])
        container = container_name(value.dtype)
        start = ends.get(container, 0)
        ends[container] = start + value.size
        slots.append((name, Slot(container, start, start + value.size, tuple(value.shape))))
    return tuple(slots)


def pack(inputs: dict[str, np.ndarray], layout: Layout) -> dict[str, np.ndarray]:
    """The flat container arrays of ``inputs`` under ``layout``, by container name."""
    parts: dict[str, list[np.ndarray]] = {}
    for name, slot in layout:
        value = np.asarray(inputs[name])
        if value.shape != slot.shape or container_name(value.dtype) != slot.container:
            raise ValueError(f"input {name!r} does not match the packed layout")
        parts.setdefault(slot.container, []).append(value.ravel())
    return {container: np.concatenate(values) for container, values in parts.items()}


def unpack(
    containers: dict[str, pt.TensorVariable], layout: Layout
) -> dict[str, pt.TensorVariable]:
    """The named arrays as views of the packed ``containers``, with static shapes."""
    out = {}
    for name, slot in layout:
        flat = containers[slot.container][slot.start:slot.stop]
        out[name] = pt.specify_shape(flat.reshape(slot.shape), slot.shape)
    return out
