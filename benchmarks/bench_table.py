"""Plain-text, column-aligned tables of job records."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench_config import CORR_PARAM, RE_SD_PARAMS, SIGMA_PARAM

JOB_COLUMNS = ("peer", "dataset", "status", "e2e s", "sample s", "minESS fx", "minESS all",
               "ESS/s", "ESS/s smp", "sd(Int)", "sd(x)", "corr", "sigma", "div", "peak MiB")
LEFT_ALIGNED = {"peer", "dataset", "status", "target", "value", "result"}


def fmt(value: Any, digits: int = 2) -> str:
    """A number with ``digits`` decimals (thousands separated when large); ``-`` for None/NaN."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def align(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; text left-aligned, numbers right-aligned."""
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.ljust(w) if h in LEFT_ALIGNED else c.rjust(w)
                 for c, w, h in zip(cells, widths, headers, strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _short_status(status: str, width: int = 40) -> str:
    return status if len(status) <= width else status[: width - 3] + "..."


def job_row(job: dict[str, Any]) -> list[str]:
    """One table row of a job record (estimates are posterior means or REML values)."""
    est = job.get("estimates") or {}
    return [
        job["peer"], job["dataset"], _short_status(job["status"]),
        fmt(job.get("e2e_s"), 1), fmt(job.get("sample_s"), 1),
        fmt(job.get("min_ess_fixed"), 0), fmt(job.get("min_ess_all"), 0),
        fmt(job.get("ess_per_s"), 1), fmt(job.get("ess_per_s_sampling"), 1),
        fmt(est.get(RE_SD_PARAMS[0]), 3), fmt(est.get(RE_SD_PARAMS[1]), 3),
        fmt(est.get(CORR_PARAM), 3), fmt(est.get(SIGMA_PARAM), 3),
        fmt(job.get("divergences")), fmt(job.get("peak_rss_mb"), 0),
    ]


def job_table(jobs: Sequence[dict[str, Any]]) -> str:
    """The aligned table of every job, in run order."""
    return align(JOB_COLUMNS, [job_row(job) for job in jobs])
