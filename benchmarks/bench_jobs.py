"""Run one (peer, dataset) job in a child process under a memory cap and a timeout.

The child (``peers.py``) writes its own JSON record. When it cannot (killed by the kernel
or by a signal, aborted by an allocation failure in native code, or stopped at the
timeout) the record is rebuilt here from the exit status and the tail of its log; the
peak memory then comes from polling ``/proc/<pid>/status`` (``VmHWM``) while it ran.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_config import MEMORY_MARKERS, Settings

PEERS_SCRIPT = Path(__file__).with_name("peers.py")
POLL_S = 0.5
LOG_TAIL_LINES = 15


ADDRESS_SPACE_FACTOR = 4  # address-space backstop, as a multiple of the resident cap


def memory_limiter(mem_gb: float) -> Callable[[], None]:
    """A ``preexec_fn`` that caps the child's address space at ``mem_gb`` GiB.

    ``run_job`` passes ``ADDRESS_SPACE_FACTOR * mem_gb``: numba, LLVM and thread arenas
    reserve far more address space than they touch, so an address-space cap at the
    resident limit fails allocations of programs that would fit. The resident limit
    itself is enforced by polling (see ``_wait``).
    """
    limit = int(mem_gb * 1024**3)

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def classify_failure(returncode: int | None, log_tail: str, timed_out: bool) -> str:
    """Status of a child that left no JSON record.

    ``"timed out"``; ``"out of memory"`` when killed by a signal (the kernel's OOM killer,
    or an abort on a failed allocation) or when the log names an allocation failure;
    otherwise ``"error: exit code N: <last log line>"``.
    """
    if timed_out:
        return "timed out"
    if returncode is not None and returncode < 0:
        return "out of memory"
    if any(marker in log_tail for marker in MEMORY_MARKERS):
        return "out of memory"
    lines = [line for line in log_tail.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "no output"
    return f"error: exit code {returncode}: {last}"


def read_hwm_mb(pid: int) -> float | None:
    """Peak resident memory (``VmHWM``) of a live process, MiB; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB -> MiB
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.exists():
        return ""
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def _wait(
    proc: subprocess.Popen, timeout_s: float, mem_mb: float = float("inf")
) -> tuple[bool, float | None]:
    """Wait for ``proc``, polling its peak resident memory.

    Kills its process group at the timeout (returns ``timed_out=True``) or when its peak
    resident memory passes ``mem_mb`` (the caller then sees a signal exit: out of memory).
    """
    start = time.monotonic()
    hwm: float | None = None
    while True:
        try:
            proc.wait(timeout=POLL_S)
            return False, hwm
        except subprocess.TimeoutExpired:
            now = read_hwm_mb(proc.pid)
            hwm = now if hwm is None or (now is not None and now > hwm) else hwm
            over_memory = hwm is not None and hwm > mem_mb
            if over_memory or time.monotonic() - start > timeout_s:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return not over_memory, hwm


def child_command(peer: str, dataset: str, settings: Settings, out: Path) -> list[str]:
    """The command line of one job's child process."""
    return [sys.executable, str(PEERS_SCRIPT), "--peer", peer, "--dataset", dataset,
            "--out", str(out), "--draws", str(settings.draws), "--tune", str(settings.tune),
            "--chains", str(settings.chains)]


def run_job(peer: str, dataset: str, settings: Settings, workdir: Path) -> dict[str, Any]:
    """Run one job; return its record (the child's, or one rebuilt from its exit).

    Adds ``job_wall_s`` (child start to exit: imports, data and fit) and, for failed jobs,
    ``log_tail`` (last lines of the child's stdout + stderr).
    """
    out = workdir / f"{peer}--{dataset}.json"
    log = workdir / f"{peer}--{dataset}.log"
    out.unlink(missing_ok=True)
    start = time.monotonic()
    with open(log, "w") as log_handle:
        proc = subprocess.Popen(
            child_command(peer, dataset, settings, out),
            stdout=log_handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=memory_limiter(ADDRESS_SPACE_FACTOR * settings.mem_gb),
            start_new_session=True,
        )
        timed_out, polled_hwm = _wait(proc, settings.timeout_s, settings.mem_gb * 1024)
    record: dict[str, Any]
    if out.exists() and not timed_out:
        record = json.loads(out.read_text())
    else:
        record = {"peer": peer, "dataset": dataset,
                  "status": classify_failure(proc.returncode, _tail(log), timed_out),
                  "peak_rss_mb": polled_hwm, "peak_rss_source": "polled"}
    record["job_wall_s"] = time.monotonic() - start
    record["returncode"] = proc.returncode
    if record["status"] != "ok":
        record["log_tail"] = _tail(log)
    return record
