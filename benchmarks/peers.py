"""One benchmark job, run in its own process: fit one peer on one dataset, write JSON.

Usage (``run.py`` calls this; it can also be run by hand)::

    python benchmarks/peers.py --peer bambi --dataset sleepstudy --out job.json \
        --draws 1000 --tune 1000 --chains 4

The dataset is built before the clock starts. ``e2e_s`` is the wall time of the peer's
own call (model build + compile + sampling + whatever the peer does before returning);
``sample_s`` is the sampler's own time (warm-up + draws) where the peer reports it. The
peak resident memory is read from ``getrusage(RUSAGE_SELF)`` just before the JSON is
written, so it covers data, model, compiled code and draws of this process alone.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bench_config import (
    ALL_PARAMS,
    AR_DATASETS,
    DATA_SEED,
    DATASETS,
    FIXED_PARAMS,
    FORMULA,
    MEMORY_MARKERS,
    PEERS,
    PHI_PARAM,
    SEED,
)


def load_dataset(name: str) -> pd.DataFrame:
    """The data of one benchmark design.

    Returns
    -------
    pandas.DataFrame, shape (n, 3)
        Columns ``y`` (float), ``x`` (float or int) and ``g`` (group labels or codes).
    """
    if name not in DATASETS:
        raise SystemExit(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    import hierlmm

    shape = DATASETS[name]
    if shape is None:
        raw = hierlmm.datasets.load("sleepstudy")
        return raw.rename(columns={"Reaction": "y", "Days": "x", "Subject": "g"})[["y", "x", "g"]]
    n_groups, n_per_group = shape
    if name in AR_DATASETS:  # correlated intercepts and slopes of x, AR(1) residuals
        sim = hierlmm.datasets.simulate_autocorrelated(
            n_groups=n_groups, n_per_group=n_per_group, phi=AR_DATASETS[name], seed=DATA_SEED
        )
        return sim.data.rename(columns={"time": "x", "subject": "g"})[["y", "x", "g"]]
    return hierlmm.datasets.simulate_large(n_groups, n_per_group, DATA_SEED).data


def bulk_ess(values: np.ndarray) -> float:
    """Bulk ESS of one scalar's draws, shape (chain, draw); NaN when the draws are constant."""
    from arviz_stats.base import array_stats

    values = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(values)) or np.ptp(values) == 0:
        return float("nan")
    return float(array_stats.ess(values, chain_axis=0, draw_axis=1, method="bulk"))


def _finite(values: list[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def derived_metrics(
    ess: dict[str, float], e2e_s: float | None, sample_s: float | None
) -> dict[str, float | None]:
    """Min bulk ESS (fixed effects; all parameters) and ESS per second.

    ``ess_per_s`` divides the fixed-effect min ESS by the end-to-end time,
    ``ess_per_s_sampling`` by the sampler's own time (None when not reported).
    """
    fixed = _finite([ess.get(p) for p in FIXED_PARAMS])
    every = _finite([ess.get(p) for p in (*ALL_PARAMS, PHI_PARAM)])
    min_fixed = min(fixed) if fixed else None
    out: dict[str, float | None] = {
        "min_ess_fixed": min_fixed,
        "min_ess_all": min(every) if every else None,
        "ess_per_s": None,
        "ess_per_s_sampling": None,
    }
    if min_fixed is not None and e2e_s:
        out["ess_per_s"] = min_fixed / e2e_s
    if min_fixed is not None and sample_s:
        out["ess_per_s_sampling"] = min_fixed / sample_s
    return out


def run_hierlmm(engine: str, data: pd.DataFrame, draws: int, tune: int,
                chains: int, ar1: bool = False) -> dict[str, Any]:
    """Fit with ``hierlmm.fit(engine=engine)``; ESS and means from ``Fit.summary()``.

    ``ar1``: AR(1) residuals along ``x`` within ``g`` (the ``AR_DATASETS`` designs).
    """
    import hierlmm

    residual = hierlmm.ResidualSpec("ar1", time="x", group="g") if ar1 else None
    start = time.perf_counter()
    fit = hierlmm.fit(FORMULA, data, engine=engine, draws=draws, tune=tune, chains=chains,
                      seed=SEED, progress=False, warn_convergence=False, residual=residual)
    e2e = time.perf_counter() - start
    table = fit.summary()
    diag = fit.diagnostics()
    rows = [p for p in (*ALL_PARAMS, PHI_PARAM) if p in table.index]
    return {
        "e2e_s": e2e,
        "sample_s": fit.timings.get("sample_s"),
        "timings": {k: float(v) for k, v in fit.timings.items()},
        "ess": {p: float(table.loc[p, "ess_bulk"]) for p in rows},
        "estimates": {p: float(table.loc[p, "mean"]) for p in rows},
        "divergences": int(diag["divergences"]),
        "extra": {"engine": fit.engine, "max_rhat": float(diag["max_rhat"])},
    }


BAMBI_NAMES = {"Intercept": "Intercept", "x": "x", "1|g_sigma": "sd(Intercept|g)",
               "x|g_sigma": "sd(x|g)", "sigma": "sigma"}


def _bambi_groups(result: Any) -> tuple[Any, Any]:
    """(posterior, sample_stats) as xarray Datasets from a DataTree or an InferenceData."""
    if hasattr(result, "children"):  # xarray.DataTree
        return result["posterior"].to_dataset(), result["sample_stats"].to_dataset()
    return result.posterior, result.sample_stats


def run_bambi(data: pd.DataFrame, draws: int, tune: int, chains: int) -> dict[str, Any]:
    """Fit with bambi (nutpie backend); bambi models no intercept-slope correlation."""
    import bambi

    if not isinstance(data["g"].dtype, pd.CategoricalDtype):
        data = data.assign(g=data["g"].astype("category"))  # codes -> factor, not numeric
    start = time.perf_counter()
    model = bambi.Model(FORMULA, data)
    result = model.fit(draws=draws, tune=tune, chains=chains, random_seed=SEED,
                       inference_method="nutpie", progressbar=False)
    e2e = time.perf_counter() - start
    posterior, stats = _bambi_groups(result)
    ess, estimates = {}, {}
    for theirs, ours in BAMBI_NAMES.items():
        values = posterior[theirs].transpose("chain", "draw").values
        ess[ours] = bulk_ess(values)
        estimates[ours] = float(values.mean())
    sampling = posterior.attrs.get("sampling_time")
    return {
        "e2e_s": e2e,
        "sample_s": float(sampling) if sampling is not None else None,
        "timings": {"total_s": e2e},
        "ess": ess,
        "estimates": estimates,
        "divergences": int(stats["diverging"].values.sum()) if "diverging" in stats else None,
        "extra": {},
    }


def run_statsmodels(data: pd.DataFrame) -> dict[str, Any]:
    """REML fit with ``statsmodels`` MixedLM; no ESS (not a sampler)."""
    import warnings

    import statsmodels.formula.api as smf

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = smf.mixedlm("y ~ x", data, groups=data["g"], re_formula="~x").fit(reml=True)
    e2e = time.perf_counter() - start
    cov = np.asarray(result.cov_re, dtype=float)  # (2, 2), already times the scale
    sd = np.sqrt(np.diag(cov))
    estimates = {
        "Intercept": float(result.fe_params["Intercept"]),
        "x": float(result.fe_params["x"]),
        "sd(Intercept|g)": float(sd[0]),
        "sd(x|g)": float(sd[1]),
        "corr(Intercept,x|g)": float(cov[0, 1] / (sd[0] * sd[1])),
        "sigma": float(np.sqrt(result.scale)),
    }
    return {"e2e_s": e2e, "sample_s": None, "timings": {"total_s": e2e}, "ess": {},
            "estimates": estimates, "divergences": None,
            "extra": {"converged": bool(result.converged)}}


def run_peer(peer: str, data: pd.DataFrame, draws: int, tune: int,
             chains: int, ar1: bool = False) -> dict[str, Any]:
    """Dispatch to one peer's runner; the record's keys are listed in :func:`main`."""
    if peer == "hierlmm-collapsed":
        return run_hierlmm("collapsed", data, draws, tune, chains, ar1)
    if peer == "hierlmm-sampled":
        return run_hierlmm("sampled", data, draws, tune, chains, ar1)
    if ar1:
        raise SystemExit(f"{peer} fits no AR(1) residuals; AR designs run hierlmm only")
    if peer == "bambi":
        return run_bambi(data, draws, tune, chains)
    if peer == "statsmodels":
        return run_statsmodels(data)
    raise SystemExit(f"unknown peer {peer!r}; choose from {', '.join(PEERS)}")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def is_memory_error(exc: BaseException) -> bool:
    """True when ``exc`` or anything in its cause/context chain is an allocation failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError):
            return True
        if any(marker in str(current) for marker in MEMORY_MARKERS[1:]):
            return True
        current = current.__cause__ or current.__context__
    return False


def error_status(exc: BaseException) -> str:
    """``"out of memory"`` or ``"error: <Type>: <first line of the message>"``."""
    if is_memory_error(exc):
        return "out of memory"
    lines = str(exc).strip().splitlines()
    return f"error: {type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, choices=PEERS)
    parser.add_argument("--dataset", required=True, choices=tuple(DATASETS))
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one job and write its record to ``--out``.

    The record holds ``peer, dataset, status, n_rows, n_groups, e2e_s, sample_s, timings,
    ess, estimates, divergences, extra, min_ess_fixed, min_ess_all, ess_per_s,
    ess_per_s_sampling, rss_data_mb, peak_rss_mb``. Returns 0 when the fit succeeded.
    """
    args = _parse(argv)
    data = load_dataset(args.dataset)
    record: dict[str, Any] = {"peer": args.peer, "dataset": args.dataset,
                              "n_rows": int(len(data)), "n_groups": int(data["g"].nunique()),
                              "rss_data_mb": peak_rss_mb()}
    code = 0
    try:
        result = run_peer(args.peer, data, args.draws, args.tune, args.chains,
                          ar1=args.dataset in AR_DATASETS)
        record.update(status="ok", **result)
        record.update(derived_metrics(result["ess"], result["e2e_s"], result["sample_s"]))
    except Exception as exc:  # every failure, MemoryError included, is a result here
        traceback.print_exc()
        record["status"] = error_status(exc)
        code = 1
    record["peak_rss_mb"] = peak_rss_mb()
    args.out.write_text(json.dumps(record, indent=2, allow_nan=True))
    return code


if __name__ == "__main__":
    sys.exit(main())
