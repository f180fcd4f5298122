"""hierlmm's performance targets, checked against peers measured in the same run.

Each check returns a row ``{"target", "value", "met"}``; ``met`` is True, False, or None
when the run cannot decide (a job was not run or failed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench_table import align

OURS = "hierlmm-collapsed"
MEM_LIMIT_MIB = 4096.0  # 4 GiB
VALUE_WIDTH = 72  # printed width of a target's value; the JSON keeps it whole
TIMEOUT_MARGIN = 0.9  # a timed-out peer's fit took at least this share of the timeout

Job = dict[str, Any]


def find(jobs: Sequence[Job], peer: str, dataset: str) -> Job | None:
    """The record of ``(peer, dataset)``, or None when it was not run."""
    return next((j for j in jobs if j["peer"] == peer and j["dataset"] == dataset), None)


def _unusable(job: Job | None, peer: str, dataset: str) -> str | None:
    if job is None:
        return f"{peer} not run on {dataset}"
    if job["status"] != "ok":
        return f"{peer}: {job['status']}"
    return None


def _row(target: str, value: str, met: bool | None) -> dict[str, Any]:
    return {"target": target, "value": value, "met": met}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _against_bambi(jobs: Sequence[Job], dataset: str) -> tuple[Any, Any, str | None]:
    """hierlmm-collapsed's and bambi's jobs on ``dataset``, and why they cannot be
    compared (None when they can)."""
    ours, peer = find(jobs, OURS, dataset), find(jobs, "bambi", dataset)
    return ours, peer, _unusable(ours, OURS, dataset) or _unusable(peer, "bambi", dataset)


def ess_rate_target(jobs: Sequence[Job], dataset: str, threshold: float,
                    faster_too: bool) -> dict[str, Any]:
    """ESS/s (end-to-end) of hierlmm-collapsed over bambi's, >= ``threshold``.

    With ``faster_too`` hierlmm's end-to-end time must also be below bambi's.
    The sampling-only ratio is printed beside it and not judged.
    """
    name = f"{dataset}: ESS/s {OURS} / bambi >= {threshold:g}"
    if faster_too:
        name += ", e2e time < bambi's"
    ours, peer, problem = _against_bambi(jobs, dataset)
    if problem:
        return _row(name, problem, None)
    ratio = _ratio(ours["ess_per_s"], peer["ess_per_s"])
    sampling = _ratio(ours["ess_per_s_sampling"], peer["ess_per_s_sampling"])
    value = f"{_x(ratio)} (sampling-only {_x(sampling)})"
    met = ratio is not None and ratio >= threshold
    if faster_too:
        value += f"; e2e {ours['e2e_s']:.1f} s vs {peer['e2e_s']:.1f} s"
        met = met and ours["e2e_s"] < peer["e2e_s"]
    return _row(name, value, met if ratio is not None else None)


def single_fit_target(jobs: Sequence[Job], dataset: str, share: float,
                      ess_ratio: float) -> dict[str, Any]:
    """Issue 10's single-fit line: hierlmm-collapsed end to end at most ``share`` x
    bambi's time, and its ESS/s at least ``ess_ratio`` x bambi's (fresh processes)."""
    name = f"{dataset}: e2e {OURS} <= {share:g} x bambi, ESS/s >= {ess_ratio:g}x"
    ours, peer, problem = _against_bambi(jobs, dataset)
    if problem:
        return _row(name, problem, None)
    time_ratio = _ratio(ours["e2e_s"], peer["e2e_s"])
    rate_ratio = _ratio(ours["ess_per_s"], peer["ess_per_s"])
    value = (f"time {_x(time_ratio)} ({ours['e2e_s']:.1f} s vs {peer['e2e_s']:.1f} s), "
             f"ESS/s {_x(rate_ratio)}")
    if time_ratio is None or rate_ratio is None:
        return _row(name, value, None)
    return _row(name, value, time_ratio <= share and rate_ratio >= ess_ratio)


def time_vs_statsmodels_target(jobs: Sequence[Job], dataset: str, share: float,
                               timeout_s: float) -> dict[str, Any]:
    """hierlmm-collapsed end-to-end time <= ``share`` x statsmodels REML time.

    A statsmodels job that timed out counts as ``TIMEOUT_MARGIN * timeout_s`` (a lower bound).
    """
    name = f"{dataset}: e2e {OURS} <= {share:g} x statsmodels"
    ours, peer = find(jobs, OURS, dataset), find(jobs, "statsmodels", dataset)
    problem = _unusable(ours, OURS, dataset)
    if problem is None and peer is not None and peer["status"] == "timed out":
        bound = TIMEOUT_MARGIN * timeout_s
        ratio = ours["e2e_s"] / bound
        return _row(name, f"{ours['e2e_s']:.1f} s vs statsmodels > {bound:.0f} s (timed out)"
                    f" -> ratio < {ratio:.2f}", ratio <= share)
    problem = problem or _unusable(peer, "statsmodels", dataset)
    if problem:
        return _row(name, problem, None)
    ratio = ours["e2e_s"] / peer["e2e_s"]
    return _row(name, f"{ours['e2e_s']:.1f} s vs {peer['e2e_s']:.1f} s -> {ratio:.2f}x",
                ratio <= share)


def min_ess_target(jobs: Sequence[Job], dataset: str, threshold: float) -> dict[str, Any]:
    """Min bulk ESS over the fixed effects of hierlmm-collapsed >= ``threshold``."""
    name = f"{dataset}: min ESS (fixed effects) {OURS} >= {threshold:g}"
    ours = find(jobs, OURS, dataset)
    problem = _unusable(ours, OURS, dataset)
    if problem:
        return _row(name, problem, None)
    fixed, every = ours["min_ess_fixed"], ours["min_ess_all"]
    value = f"{fixed:.0f} (all parameters: {every:.0f})" if fixed is not None else "-"
    return _row(name, value, None if fixed is None else fixed >= threshold)


def scale_target(jobs: Sequence[Job], dataset: str, max_s: float,
                 max_mib: float) -> list[dict[str, Any]]:
    """hierlmm-collapsed end-to-end time < ``max_s`` and peak memory < ``max_mib``."""
    time_name = f"{dataset}: e2e {OURS} < {max_s:g} s"
    mem_name = f"{dataset}: peak memory {OURS} < {max_mib / 1024:g} GiB"
    ours = find(jobs, OURS, dataset)
    problem = _unusable(ours, OURS, dataset)
    if problem:
        peak = ours.get("peak_rss_mb") if ours else None
        mem_value = problem if peak is None else f"{problem}; peak {peak:.0f} MiB"
        return [_row(time_name, problem, None), _row(mem_name, mem_value, None)]
    peak = ours["peak_rss_mb"]
    return [_row(time_name, f"{ours['e2e_s']:.1f} s", ours["e2e_s"] < max_s),
            _row(mem_name, f"{peak:.0f} MiB", peak < max_mib)]


def ar_target(jobs: Sequence[Job], dataset: str, max_s: float,
              threshold: float) -> dict[str, Any]:
    """AR(1) design: hierlmm-collapsed e2e < ``max_s`` with min ESS (all) >= ``threshold``.

    The sampled engine's time, min ESS and peak memory are printed beside it.
    """
    name = f"{dataset} (AR(1)): e2e {OURS} < {max_s:g} s, min ESS >= {threshold:g}"
    ours = find(jobs, OURS, dataset)
    problem = _unusable(ours, OURS, dataset)
    if problem:
        return _row(name, problem, None)
    every = ours["min_ess_all"]
    value = (f"{ours['e2e_s']:.1f} s, min ESS {every:.0f}, peak {ours['peak_rss_mb']:.0f} MiB"
             if every is not None else "-")
    sampled = find(jobs, "hierlmm-sampled", dataset)
    if sampled is not None and sampled["status"] == "ok" and sampled["min_ess_all"]:
        value += (f"; sampled {sampled['e2e_s']:.1f} s, min ESS {sampled['min_ess_all']:.0f},"
                  f" peak {sampled['peak_rss_mb']:.0f} MiB")
    met = every is not None and ours["e2e_s"] < max_s and every >= threshold
    return _row(name, value, met)


def divergence_target(jobs: Sequence[Job]) -> dict[str, Any]:
    """No divergent transitions for hierlmm-collapsed on any design of this run."""
    name = f"no divergences for {OURS} on all designs"
    ours = [j for j in jobs if j["peer"] == OURS]
    if not ours:
        return _row(name, f"{OURS} not run", None)
    ok = [j for j in ours if j["status"] == "ok"]
    failed = [f"{j['dataset']}: {j['status']}" for j in ours if j["status"] != "ok"]
    counts = ", ".join(f"{j['dataset']} {j['divergences']}" for j in ok)
    value = "; ".join(part for part in (counts, *failed) if part)
    if any(j["divergences"] for j in ok):
        return _row(name, value, False)
    return _row(name, value, None if failed else True)


def evaluate_targets(jobs: Sequence[Job], timeout_s: float) -> list[dict[str, Any]]:
    """Every target row, in the order of the project's performance goals."""
    return [
        ess_rate_target(jobs, "sim1k", 10.0, faster_too=False),
        ess_rate_target(jobs, "sleepstudy", 2.0, faster_too=True),
        single_fit_target(jobs, "sleepstudy", 0.5, 4.0),
        time_vs_statsmodels_target(jobs, "sim10k", 0.5, timeout_s),
        min_ess_target(jobs, "sim10k", 1000.0),
        *scale_target(jobs, "sim100k", 60.0, MEM_LIMIT_MIB),
        ar_target(jobs, "ar1k", 30.0, 1000.0),
        divergence_target(jobs),
    ]


def verdict(met: bool | None) -> str:
    """``met`` / ``NOT MET`` / ``n/a``."""
    return {True: "met", False: "NOT MET", None: "n/a"}[met]


def _clip(text: str, width: int = VALUE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def target_table(rows: Sequence[dict[str, Any]]) -> str:
    """Aligned text table of target rows."""
    cells = [[r["target"], _clip(r["value"]), verdict(r["met"])] for r in rows]
    return align(("target", "value", "result"), cells)
