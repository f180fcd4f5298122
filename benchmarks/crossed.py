"""Crossed designs (issue 13): the all-factor marginal's cost, exact REML and the fits.

Run: ``python benchmarks/crossed.py [--fits] [--timeout 900]``. Prints one line per
measurement and writes ``benchmarks/results/crossed-latest.json``.

- **InstEval** ``y ~ 1 + service + (1|s) + (1|d) + (1|dept)`` (73,421 rows): seconds per
  all-factor value + gradient (students first, m = 1,142 lecturers + departments dense),
  and an exact REML fit by Nelder-Mead on the same evaluation code (R/lme4 is not
  installed here; the issue's lme4 time, 24 s, and hierlmm's old 272 s are printed for
  reference only, as they were measured elsewhere).
- **sim300x300**: 300 subjects x 300 items, one row per pair (90k rows),
  ``y ~ x + (x | subject) + (x | item)``: seconds per all-factor gradient (m = 600).
- ``--fits``: end-to-end ``hierlmm.fit`` of both (default engine choice) and bambi on
  sim300x300, each in a subprocess under ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

import hierlmm
from hierlmm.design import build_design
from hierlmm.engines.collapsed.allfactor import (
    Response,
    allfactor_loglik,
    allfactor_loglik_grad,
    factorize,
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


def seconds_per_gradient(blocks, resp, p: int, chols, sigma: float, reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        allfactor_loglik_grad(blocks, resp, np.zeros(p), sigma, chols)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def reml(design, blocks, resp, theta: np.ndarray) -> float:
    """Exact REML log-likelihood at ``theta = log(sigma), log(sd_k)`` (q_k = 1)."""
    sigma = float(np.exp(theta[0]))
    chols = [np.array([[np.exp(t)]]) for t in theta[1:]]
    Ks = [c / sigma for c in chols]
    fac = factorize(blocks, Ks)
    n1 = blocks.first_size
    lam_zx = np.vstack([fac.R1.rows(blocks.ZtX[:n1], transpose=True),
                        fac.R2.rows(blocks.ZtX[n1:], transpose=True)])  # (Q, p)
    solved = np.column_stack([fac.solve(lam_zx[:, k], n1) for k in range(design.p)])
    XVX = (blocks.XtX - lam_zx.T @ solved) / sigma**2
    lam_zy = np.concatenate([fac.R1.rows(resp.Zty[:n1], transpose=True),
                             fac.R2.rows(resp.Zty[n1:], transpose=True)])
    XVy = (resp.Xty - solved.T @ lam_zy) / sigma**2
    beta = np.linalg.solve(XVX, XVy)
    ml = allfactor_loglik(blocks, resp, beta, sigma, chols)
    return ml + 0.5 * design.p * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(XVX)[1]


def fit_reml(design, blocks, resp, start: np.ndarray) -> tuple[np.ndarray, float, int]:
    t0 = time.perf_counter()
    res = minimize(lambda t: -reml(design, blocks, resp, t), start, method="Nelder-Mead",
                   options={"xatol": 1e-3, "fatol": 1e-3, "maxfev": 400})
    return np.exp(res.x), time.perf_counter() - t0, int(res.nfev)


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
    print(json.dumps({{"total_s": time.perf_counter() - t}}))
else:
    fit = hierlmm.fit(formula, data, seed=1, progress=False, warn_convergence=False)
    d = fit.diagnostics()
    print(json.dumps({{"total_s": fit.timings["total_s"], "engine": fit.engine,
                       "min_ess_bulk": d["min_ess_bulk"], "divergences": d["divergences"],
                       "sds": fit.summary()["mean"].to_dict()}}))
"""


def guarded_fit(name: str, peer: str, timeout: float) -> dict:
    code = FIT_SCRIPT.format(bench=str(Path(__file__).parent), name=name, peer=peer)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": f"timed out after {timeout:.0f} s"}
    if out.returncode != 0:
        return {"status": f"failed (rc {out.returncode}): {out.stderr.strip()[-200:]}"}
    return {"status": "ok", **json.loads(out.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fits", action="store_true")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    results: dict = {}
    design, blocks, resp = setup(INSTEVAL, insteval())
    chols = [np.array([[0.33]]), np.array([[0.52]]), np.array([[0.08]])]
    per_grad = seconds_per_gradient(blocks, resp, design.p, chols, 1.18)
    print(f"insteval: all-factor value+gradient {per_grad:.3f} s (m={blocks.m})", flush=True)
    sds, reml_s, nfev = fit_reml(design, blocks, resp, np.log([1.2, 0.3, 0.5, 0.1]))
    results["insteval"] = {"m": blocks.m, "flops_est": allfactor_flops(design),
                           "all_factor_by_default": integrates_all(design),
                           "s_per_gradient": per_grad, "reml_s": reml_s, "reml_nfev": nfev,
                           "reml_sigma_sd_s_d_dept": sds.tolist()}
    print(f"insteval: all-factor value+gradient {per_grad:.3f} s (m={blocks.m}); "
          f"own exact REML {reml_s:.1f} s ({nfev} evaluations), sigma, sd(s), sd(d), "
          f"sd(dept) = {np.round(sds, 3).tolist()}; issue's lme4 24 s, old hierlmm 272 s")
    design, blocks, resp = setup(SIM, sim300())
    chols = [np.array([[1.0, 0.0], [0.15, 0.48]]), np.array([[0.7, 0.0], [-0.06, 0.29]])]
    per_grad = seconds_per_gradient(blocks, resp, design.p, chols, 1.0)
    results["sim300x300"] = {"m": blocks.m, "flops_est": allfactor_flops(design),
                             "all_factor_by_default": integrates_all(design),
                             "s_per_gradient": per_grad}
    print(f"sim300x300: all-factor value+gradient {per_grad:.3f} s (m={blocks.m}); "
          f"chosen by default: {integrates_all(design)}")
    if args.fits:
        for name, peer in (("sim300x300", "hierlmm"), ("sim300x300", "bambi"),
                           ("insteval", "hierlmm")):
            res = guarded_fit(name.replace("sim300x300", "sim"), peer, args.timeout)
            results[f"{name}:{peer}"] = res
            print(f"{name} {peer}: {res}")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
