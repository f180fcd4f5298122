"""Crossed designs (issue 13): the all-factor marginal's cost, REML fits and the fits.

Run: ``python benchmarks/crossed.py [--fits] [--timeout 900] [--draws 250]``. Prints one
line per measurement and writes ``benchmarks/results/crossed-latest.json``.

- **InstEval** ``y ~ 1 + service + (1|s) + (1|d) + (1|dept)`` (73,421 rows): seconds per
  all-factor value and value + gradient (students first, m = 1,142 lecturers +
  departments dense), an exact REML fit by Nelder-Mead on the same evaluation code, and
  lme4's REML fit (``insteval_lme4.R``) in the same run when ``Rscript`` with lme4 is
  installed (hierlmm's old 272 s is printed for reference only).
- **sim300x300**: 300 subjects x 300 items, one row per pair (90k rows),
  ``y ~ x + (x | subject) + (x | item)``: seconds per all-factor value and gradient
  (m = 600).
- ``--fits``: end-to-end ``hierlmm.fit`` of both with default settings except
  ``draws`` per chain (``--draws``, default 250: the independence sampler's min bulk
  ESS on InstEval was 566-792 from 4 x 250 draws over seeds 1-8; from 4 x 200 it was
  355-600 over seeds 1-4, below the target's 400 once), and bambi (nutpie) on
  sim300x300, each in a subprocess under ``--timeout`` seconds; then the ratio to lme4.
  ``--seeds 1 2 3`` repeats the InstEval fit per seed (its ESS varies by seed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

import hierlmm
from hierlmm.design import build_design
from hierlmm.engines.collapsed.allfactor import (
    Response,
    allfactor_loglik,
    allfactor_loglik_grad,
    reml_loglik,
)
from hierlmm.engines.collapsed.blocks import factor_blocks, response_blocks
from hierlmm.engines.collapsed.engine import allfactor_flops, integrates_all
from hierlmm.spec import parse_formula

INSTEVAL = "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)"
SIM = "y ~ x + (x | subject) + (x | item)"
OUT = Path(__file__).parent / "results" / "crossed-latest.json"


def insteval() -> pd.DataFrame:
    data = hierlmm.datasets.load("insteval")
    for col in ("s", "d", "dept", "service"):
        data[col] = data[col].astype(str)
    return data


def sim300(seed: int = 1) -> pd.DataFrame:
    """300 x 300 crossed, one row per pair, correlated slopes on both factors."""
    rng = np.random.default_rng(seed)
    s, i = np.meshgrid(np.arange(300), np.arange(300), indexing="ij")
    s, i = s.ravel(), i.ravel()
    x = rng.normal(size=s.size)

    def effects(sd, corr):
        cov = np.array([[sd[0] ** 2, corr * sd[0] * sd[1]], [corr * sd[0] * sd[1], sd[1] ** 2]])
        return rng.multivariate_normal(np.zeros(2), cov, size=300)

    u, w = effects((1.0, 0.5), 0.3), effects((0.7, 0.3), -0.2)
    y = 1 + 0.5 * x + u[s, 0] + u[s, 1] * x + w[i, 0] + w[i, 1] * x + rng.normal(size=s.size)
    return pd.DataFrame({"subject": [f"s{v}" for v in s], "item": [f"i{v}" for v in i],
                         "x": x, "y": y})


def setup(formula: str, data: pd.DataFrame):
    design = build_design(parse_formula(formula), data)
    y = design.y - design.y.mean()
    return design, factor_blocks(design), Response(*response_blocks(design, y))


def seconds_per_call(function, blocks, resp, p: int, chols, sigma: float,
                     reps: int = 5) -> float:
    """Median seconds of ``function`` at distinct sigmas (no factorisation reuse)."""
    times = []
    for k in range(reps):
        start = time.perf_counter()
        function(blocks, resp, np.zeros(p), sigma * (1.0 + 1e-3 * k), chols)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def reml(design, blocks, resp, theta: np.ndarray) -> float:
    """Exact REML log-likelihood at ``theta = log(sigma), log(sd_k)`` (q_k = 1)."""
    chols = [np.array([[np.exp(t)]]) for t in theta[1:]]
    return reml_loglik(blocks, resp, float(np.exp(theta[0])), chols)[0]


def fit_reml(design, blocks, resp, start: np.ndarray) -> tuple[np.ndarray, float, int]:
    t0 = time.perf_counter()
    res = minimize(lambda t: -reml(design, blocks, resp, t), start, method="Nelder-Mead",
                   options={"xatol": 1e-3, "fatol": 1e-3, "maxfev": 400})
    return np.exp(res.x), time.perf_counter() - t0, int(res.nfev)


def lme4_reml(timeout: float) -> dict:
    """lme4's REML fit of InstEval (``insteval_lme4.R``), or why it did not run."""
    if shutil.which("Rscript") is None:
        return {"status": "Rscript not installed"}
    script = Path(__file__).parent / "insteval_lme4.R"
    try:
        out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True,
                             timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": f"timed out after {timeout:.0f} s"}
    if out.returncode != 0:
        return {"status": f"failed: {out.stderr.strip()[-200:]}"}
    return {"status": "ok", **json.loads(out.stdout.strip().splitlines()[-1])}


FIT_SCRIPT = """
import sys, time, json, hierlmm
sys.path.insert(0, {bench!r})
from crossed import insteval, sim300, INSTEVAL, SIM
name = {name!r}
data = insteval() if name == "insteval" else sim300()
formula = INSTEVAL if name == "insteval" else SIM
t = time.perf_counter()
if {peer!r} == "bambi":
    import bambi
    model = bambi.Model(formula, data)
    idata = model.fit(inference_method="nutpie", random_seed=1)
    total = time.perf_counter() - t
    from arviz_stats import ess
    post = idata["posterior"].to_dataset() if hasattr(idata, "children") else idata.posterior
    params = [v for v in post.data_vars if "|" not in v or v.endswith("_sigma")]
    min_ess = min(float(ess(post[[v]]).to_array().min()) for v in params)
    print(json.dumps({{"total_s": total, "min_ess_bulk": min_ess}}))
else:
    fit = hierlmm.fit(formula, data, seed={seed}, progress=False, warn_convergence=False,
                      draws={draws})
    d = fit.diagnostics()
    table = fit.summary()
    medians = fit.posterior[[v for v in fit.posterior.data_vars if v.startswith("sd_")
                             or v == "sigma"]].median(("chain", "draw"))
    print(json.dumps({{"total_s": fit.timings["total_s"], "timings": fit.timings,
                       "engine": fit.engine, "sampler": fit.sampler,
                       "acceptance": fit.idata["sample_stats"].attrs.get("acceptance_rate"),
                       "min_ess_bulk": d["min_ess_bulk"], "max_rhat": d["max_rhat"],
                       "divergences": d["divergences"], "means": table["mean"].to_dict(),
                       "medians": {{k: v.values.ravel().tolist()
                                    for k, v in medians.data_vars.items()}}}}))
"""


def guarded_fit(name: str, peer: str, timeout: float, draws: int, seed: int = 1) -> dict:
    code = FIT_SCRIPT.format(bench=str(Path(__file__).parent), name=name, peer=peer,
                             draws=draws, seed=seed)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": f"timed out after {timeout:.0f} s"}
    if out.returncode != 0:
        return {"status": f"failed (rc {out.returncode}): {out.stderr.strip()[-200:]}"}
    return {"status": "ok", **json.loads(out.stdout.strip().splitlines()[-1])}


def _print_ratios(fits: list[dict], lme4: dict) -> None:
    """Each InstEval fit's time over lme4's, with its min bulk ESS."""
    if lme4.get("status") != "ok":
        return
    for fit in fits:
        if fit.get("status") == "ok":
            print(f"insteval: hierlmm {fit['total_s']:.1f} s / lme4 {lme4['elapsed_s']:.1f} s "
                  f"= {fit['total_s'] / lme4['elapsed_s']:.2f}x lme4's time, min bulk ESS "
                  f"{fit['min_ess_bulk']:.0f} (old hierlmm 272 s = "
                  f"{272 / lme4['elapsed_s']:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fits", action="store_true")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--draws", type=int, default=250)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    results: dict = {}
    design, blocks, resp = setup(INSTEVAL, insteval())
    chols = [np.array([[0.33]]), np.array([[0.52]]), np.array([[0.08]])]
    with threadpool_limits(1, user_api="blas"):  # as in a fit (hierlmm.inference.samplers)
        per_value = seconds_per_call(allfactor_loglik, blocks, resp, design.p, chols, 1.18)
        per_grad = seconds_per_call(allfactor_loglik_grad, blocks, resp, design.p, chols, 1.18)
    sds, reml_s, nfev = fit_reml(design, blocks, resp, np.log([1.2, 0.3, 0.5, 0.1]))
    results["insteval"] = {"m": blocks.m, "flops_est": allfactor_flops(design),
                           "all_factor_by_default": integrates_all(design, True),
                           "s_per_value": per_value, "s_per_gradient": per_grad,
                           "reml_s": reml_s, "reml_nfev": nfev,
                           "reml_sigma_sd_s_d_dept": sds.tolist()}
    print(f"insteval: all-factor value {per_value:.3f} s, value+gradient {per_grad:.3f} s "
          f"(m={blocks.m}); own exact REML {reml_s:.1f} s ({nfev} evaluations), sigma, "
          f"sd(s), sd(d), sd(dept) = {np.round(sds, 3).tolist()}", flush=True)
    lme4 = lme4_reml(args.timeout)
    results["insteval:lme4"] = lme4
    print(f"insteval lme4: {lme4}", flush=True)
    design, blocks, resp = setup(SIM, sim300())
    chols = [np.array([[1.0, 0.0], [0.15, 0.48]]), np.array([[0.7, 0.0], [-0.06, 0.29]])]
    with threadpool_limits(1, user_api="blas"):
        per_value = seconds_per_call(allfactor_loglik, blocks, resp, design.p, chols, 1.0)
        per_grad = seconds_per_call(allfactor_loglik_grad, blocks, resp, design.p, chols, 1.0)
    results["sim300x300"] = {"m": blocks.m, "flops_est": allfactor_flops(design),
                             "all_factor_by_default": integrates_all(design, True),
                             "s_per_value": per_value, "s_per_gradient": per_grad}
    print(f"sim300x300: all-factor value {per_value:.3f} s, value+gradient {per_grad:.3f} s "
          f"(m={blocks.m})", flush=True)
    if args.fits:
        fits = []
        for seed in args.seeds:
            res = guarded_fit("insteval", "hierlmm", args.timeout, args.draws, seed)
            results[f"insteval:hierlmm:seed{seed}"] = res
            fits.append(res)
            print(f"insteval hierlmm seed {seed}: {res}", flush=True)
        results["insteval:hierlmm"] = fits[0]
        for name, peer, draws in (("sim300x300", "hierlmm", 400), ("sim300x300", "bambi", 0)):
            res = guarded_fit("sim", peer, args.timeout, draws)
            results[f"{name}:{peer}"] = res
            print(f"{name} {peer}: {res}", flush=True)
        _print_ratios(fits, lme4)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
