"""Benchmark hierlmm against its peers in one run on this machine.

Each (peer, dataset) job runs in its own process (``peers.py``) under an address-space
cap and a wall-clock timeout. Prints a table of every job and the project's performance
targets (ratios from this run), and writes ``benchmarks/results/latest.json`` plus a
timestamped copy. See ``benchmarks/README.md``.

    python benchmarks/run.py                 # full: 4 chains x 1000 draws, 4 designs
    python benchmarks/run.py --quick         # sleepstudy + 200 groups, 2 chains x 300 draws
    python benchmarks/run.py --peers bambi,statsmodels --datasets sim1k --timeout 300
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import tempfile
from dataclasses import asdict, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from bench_config import (
    AR_DATASETS,
    AR_PEERS,
    DATASETS,
    FULL,
    FULL_DATASETS,
    PEERS,
    QUICK,
    QUICK_DATASETS,
    Settings,
)
from bench_jobs import run_job
from bench_table import job_table
from bench_targets import evaluate_targets, target_table, verdict

RESULTS = Path(__file__).with_name("results")
PACKAGES = ("hierlmm", "pymc", "pytensor", "nutpie", "bambi", "formulae", "statsmodels",
            "numpy", "arviz-stats")


def _names(text: str, allowed: tuple[str, ...], option: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise SystemExit(f"{option}: unknown {unknown or 'empty list'}; "
                         f"choose from {', '.join(allowed)} (comma-separated)")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; see ``--help``."""
    parser = argparse.ArgumentParser(description="Compare hierlmm with its peers.")
    parser.add_argument("--quick", action="store_true",
                        help="sleepstudy + sim200, 2 chains x 300 draws, 120 s per job")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers")
    parser.add_argument("--datasets", default=None,
                        help=f"comma-separated, from {', '.join(DATASETS)}")
    parser.add_argument("--mem-gb", type=float, default=None,
                        help="address-space cap per job, GiB (default 12)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="wall-clock limit per job, s (default 600; --quick 120)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS,
                        help="where latest.json and the timestamped copy go")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """Run settings: full or quick defaults, overridden by ``--mem-gb`` / ``--timeout``."""
    base = QUICK if args.quick else FULL
    if args.mem_gb is not None:
        base = replace(base, mem_gb=args.mem_gb)
    if args.timeout is not None:
        base = replace(base, timeout_s=args.timeout)
    if base.mem_gb <= 0 or base.timeout_s <= 0:
        raise SystemExit("--mem-gb and --timeout must be positive")
    return base


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """CPU count, platform, Python and peer package versions."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(),
            "versions": {p: _version(p) for p in PACKAGES}}


def finite_json(value: Any) -> Any:
    """``value`` with NaN/inf floats replaced by None, so the file is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def write_results(payload: dict[str, Any], out_dir: Path, stamp: str, quick: bool) -> Path:
    """Write ``latest.json`` and ``bench-<stamp>[-quick].json``; return the latter."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(finite_json(payload), indent=2, allow_nan=False)
    copy = out_dir / f"bench-{stamp}{'-quick' if quick else ''}.json"
    copy.write_text(text)
    (out_dir / "latest.json").write_text(text)
    return copy


def run_all(peers: tuple[str, ...], datasets: tuple[str, ...],
            settings: Settings) -> list[dict[str, Any]]:
    """Run every job, dataset by dataset; print one progress line per job."""
    jobs = []
    with tempfile.TemporaryDirectory(prefix="hierlmm-bench-") as tmp:
        for dataset in datasets:
            for peer in peers:
                if dataset in AR_DATASETS and peer not in AR_PEERS:
                    continue  # the other peers fit no AR(1) residuals
                print(f"  {peer:<18} {dataset:<10} ... ", end="", flush=True)
                job = run_job(peer, dataset, settings, Path(tmp))
                status = job["status"] if len(job["status"]) <= 70 else job["status"][:67] + "..."
                print(f"{status}  ({job['job_wall_s']:.0f} s)", flush=True)
                jobs.append(job)
    return jobs


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; always returns 0 (unmet targets are reported, not errors)."""
    args = parse_args(argv)
    settings = settings_from(args)
    peers = _names(args.peers, PEERS, "--peers")
    default = QUICK_DATASETS if args.quick else FULL_DATASETS
    datasets = _names(args.datasets, tuple(DATASETS), "--datasets") if args.datasets else default
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    print(f"hierlmm benchmark {'(quick) ' if args.quick else ''}- y ~ x + (x | g), "
          f"{settings.chains} chains x {settings.draws} draws ({settings.tune} tune), "
          f"cap {settings.mem_gb:g} GiB, timeout {settings.timeout_s:g} s per job")
    jobs = run_all(peers, datasets, settings)
    targets = evaluate_targets(jobs, settings.timeout_s)
    print("\n" + job_table(jobs))
    print("\ne2e = end-to-end wall time of the peer's call (build + compile + sample), data in "
          "memory;\nESS = bulk ESS, min over fixed effects (fx) or over every parameter; "
          "ESS/s smp = per second of sampling only.")
    note = " (quick settings: indicative only)" if args.quick else ""
    print(f"\nTargets{note}:\n" + target_table(targets))
    payload = {"created": stamp, "quick": args.quick, "settings": asdict(settings),
               "peers": list(peers), "datasets": list(datasets), "machine": machine_info(),
               "jobs": jobs,
               "targets": [{**t, "result": verdict(t["met"])} for t in targets]}
    copy = write_results(payload, args.out_dir, stamp, args.quick)
    print(f"\nwrote {args.out_dir / 'latest.json'} and {copy.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
