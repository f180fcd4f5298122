"""A Zarr store of finished chunks, so an interrupted batch resumes where it stopped.

Layout: the root's attributes hold the batch's identity (``meta``: formula, outcome
names, settings); group ``chunks/<first outcome index>`` holds one finished chunk's
arrays (``indices``, ``seeds``, ``stats``, ``partition``, ``diagnostics`` and, when kept,
``draws``) and, in its attributes, ``status`` and ``errors``, then ``complete = True``
written last. A chunk without ``complete`` (the process died while writing it) is
ignored and fitted again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hierlmm.errors import DataError
from hierlmm.many.worker import ChunkResult

ARRAYS = ("indices", "seeds", "stats", "partition", "diagnostics")


class ChunkStore:
    """Finished chunks of one batch in a Zarr group at ``path``."""

    def __init__(self, path: str | Path, meta: dict) -> None:
        import zarr

        self.path = Path(path)
        self.root = zarr.open_group(str(self.path), mode="a")
        stored = self.root.attrs.get("meta")
        if stored is None:
            self.root.attrs["meta"] = meta
        elif stored != meta:
            changed = sorted(k for k in meta if stored.get(k) != meta[k])
            raise DataError(f"store {self.path} holds another batch (differs in {changed}); "
                            "use a new store path or the same settings")
        self.chunks = self.root.require_group("chunks")

    def finished(self) -> list[ChunkResult]:
        """Every complete chunk in the store."""
        out = []
        for name in sorted(self.chunks.group_keys()):
            group = self.chunks[name]
            if not group.attrs.get("complete", False):
                continue
            arrays = {k: np.asarray(group[k][...]) for k in ARRAYS}
            draws = np.asarray(group["draws"][...]) if "draws" in group else None
            out.append(ChunkResult(
                **arrays, status=tuple(group.attrs["status"]), errors=tuple(
                    group.attrs["errors"]), draws=draws, compiles=0, pid=0, seconds=0.0))
        return out

    def write(self, result: ChunkResult) -> None:
        """Write ``result`` as one chunk group, marking it complete last."""
        name = f"{int(result.indices[0]):09d}"
        if name in self.chunks:
            del self.chunks[name]
        group = self.chunks.create_group(name)
        for key in ARRAYS:
            group.create_array(key, data=np.asarray(getattr(result, key)))
        if result.draws is not None:
            group.create_array("draws", data=result.draws)
        group.attrs.update({"status": list(result.status), "errors": list(result.errors)})
        group.attrs["complete"] = True
