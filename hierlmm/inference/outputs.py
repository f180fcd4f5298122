"""Atomic, concurrent-safe output files of one run, tied together by a run id.

Each file of a run is first written under a unique hidden name in the output folder
(``.posterior.nc.<run id>.partial``), so two runs on the same folder never touch each
other's temporary files. :meth:`Staging.publish` then renames all of them into place
while holding an exclusive ``flock`` on the folder itself: the files left behind are
always whole and always from one run (the last to publish). The run id is written into
every file, and :func:`check_pair` compares it when a saved fit is read back.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from pathlib import Path
from types import TracebackType

from hierlmm.errors import FitError

RUN_KEY = "run"


def _remove(path: Path) -> None:
    """Remove a file or a folder tree, if present."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _replace(source: Path, target: Path, run_id: str) -> None:
    """``os.replace``, also for a folder onto an existing folder (moved aside, removed)."""
    if source.is_dir() and target.is_dir():
        old = target.with_name(f".{target.name}.{run_id}.old")
        os.replace(target, old)
        os.replace(source, target)
        _remove(old)
    else:
        os.replace(source, target)


def new_run_id() -> str:
    """A fresh, unique run id (32 hex digits)."""
    return uuid.uuid4().hex


class Staging:
    """Temporary names for one run's output files, renamed into place together.

    Parameters
    ----------
    folder : pathlib.Path
        The output folder (must exist).
    run_id : str
        The run's id, part of every temporary name.

    Notes
    -----
    Use as a context manager: leaving the block without :meth:`publish` (an error, an
    interrupt) removes every temporary file, so no partial output is left behind.
    """

    def __init__(self, folder: Path, run_id: str) -> None:
        self.folder, self.run_id = Path(folder), run_id
        self._staged: dict[Path, Path] = {}
        self._scratch: list[Path] = []

    def path(self, name: str) -> Path:
        """The temporary path to write ``name`` to (final path: ``folder / name``)."""
        temporary = self.folder / f".{name}.{self.run_id}.partial"
        self._staged[self.folder / name] = temporary
        return temporary

    def folder_path(self, name: str) -> Path:
        """A temporary folder to fill with ``name`` (a file or folder); created empty."""
        scratch = self.folder / f".{name}.{self.run_id}.partial.d"
        scratch.mkdir()
        self._scratch.append(scratch)
        return scratch

    def adopt(self, staged: Path, name: str) -> None:
        """Publish ``staged`` (a file or folder written elsewhere) as ``folder / name``."""
        self._staged[self.folder / name] = staged

    def publish(self) -> list[Path]:
        """Rename every staged file into place under the folder lock; return the targets.

        Raises
        ------
        FitError
            If a staged file is missing or cannot be renamed.
        """
        lock = os.open(self.folder, os.O_RDONLY)  # the folder itself: no lock file left
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for target, temporary in self._staged.items():
                _replace(temporary, target, self.run_id)
        except OSError as exc:
            raise FitError(f"cannot move the output into {self.folder}: {exc}") from exc
        finally:
            os.close(lock)  # releases the lock
        targets = list(self._staged)
        self._staged.clear()
        self.discard()
        return targets

    def discard(self) -> None:
        """Remove every staged file not yet published."""
        for temporary in self._staged.values():
            _remove(temporary)
        for scratch in self._scratch:
            _remove(scratch)
        self._staged.clear()
        self._scratch.clear()

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.discard()


def json_run_id(path: Path) -> str | None:
    """The run id stored in a summary.json (``{"run": {"id": ...}}``), or None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FitError(f"cannot read {path}: {exc}") from exc
    run = data.get(RUN_KEY) if isinstance(data, dict) else None
    return run.get("id") if isinstance(run, dict) else None


def check_pair(saved_run_id: str | None, summary_json: Path) -> None:
    """Raise :class:`FitError` if ``summary_json`` exists and names another run.

    Parameters
    ----------
    saved_run_id : str or None
        The run id stored in the saved fit (None for a fit saved without one).
    summary_json : pathlib.Path
        The summary.json next to the saved fit.
    """
    if saved_run_id is None or not summary_json.is_file():
        return
    other = json_run_id(summary_json)
    if other is not None and other != saved_run_id:
        raise FitError(
            f"{summary_json} is from run {other} but the saved fit next to it is from run "
            f"{saved_run_id}; the folder mixes two runs: rerun 'hierlmm fit'"
        )
