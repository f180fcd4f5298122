"""Logistic GLMM benchmark: hierlmm against bambi (nutpie backend), one run.

Design (issue 9): 1,000 subjects x 10 binary observations, correlated random intercepts
and visit slopes (``hierlmm.datasets.simulate_remission``), fitted as
``remission ~ visit + treat + (1 + visit | subject)`` with family bernoulli. bambi has no
intercept-slope correlation parameter (independent group effects), so it fits a slightly
simpler model. Each peer runs in its own process; the data are simulated before the
clock starts. Peers: hierlmm with the quadrature engine (``engine="quadrature"``: the
effects integrated out by adaptive Gauss-Hermite, the independence sampler, the effects
drawn afterwards), hierlmm with the default sampled engine (nutpie NUTS over every
effect) and bambi. Reported per peer: end-to-end time (build + compile + sample + the
effects), min bulk ESS (fixed effects and random-effect SDs), ESS/s (that min over the
end-to-end time) and peak resident memory; then each hierlmm engine's ESS/s over
bambi's (target: >= 2).

    python benchmarks/glmm_bench.py            # 4 chains x 1000 draws (make bench)
    python benchmarks/glmm_bench.py --quick    # 2 chains x 300 draws
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_SUBJECTS, N_VISITS, DATA_SEED, SEED = 1_000, 10, 20_240_601, 1
PEERS = {"hierlmm": "quadrature", "hierlmm-sampled": "sampled"}  # peer -> engine
FORMULA = "remission ~ visit + treat + (1 + visit | subject)"
PARAMS = ("Intercept", "visit", "treat", "sd(Intercept|subject)", "sd(visit|subject)")
BAMBI_NAMES = {"Intercept": "Intercept", "visit": "visit", "treat": "treat",
               "1|subject_sigma": "sd(Intercept|subject)",
               "visit|subject_sigma": "sd(visit|subject)"}


def _data():
    import hierlmm

    sim = hierlmm.datasets.simulate_remission(n_subjects=N_SUBJECTS, n_visits=N_VISITS,
                                              seed=DATA_SEED)
    return sim.data


def _bulk_ess(values: np.ndarray) -> float:
    from arviz_stats.base import array_stats

    return float(array_stats.ess(np.asarray(values, float), chain_axis=0, draw_axis=1,
                                 method="bulk"))


def run_hierlmm(data, draws: int, chains: int, engine: str = "quadrature") -> dict:
    import hierlmm

    start = time.perf_counter()
    fit = hierlmm.fit(FORMULA, data, family="bernoulli", draws=draws, tune=draws,
                      chains=chains, seed=SEED, progress=False, warn_convergence=False,
                      engine=engine)
    e2e = time.perf_counter() - start
    table = fit.summary()
    return {"e2e_s": e2e, "compile_s": fit.timings["compile_s"],
            "timings": fit.timings, "sampler": fit.sampler,
            "ess": {p: float(table.loc[p, "ess_bulk"]) for p in PARAMS}}


def run_bambi(data, draws: int, chains: int) -> dict:
    import bambi

    data = data.assign(subject=data["subject"].astype("category"))
    start = time.perf_counter()
    model = bambi.Model(FORMULA, data, family="bernoulli")
    result = model.fit(draws=draws, tune=draws, chains=chains, random_seed=SEED,
                       inference_method="nutpie", progressbar=False)
    e2e = time.perf_counter() - start
    posterior = (result["posterior"].to_dataset() if hasattr(result, "children")
                 else result.posterior)
    ess = {ours: _bulk_ess(posterior[theirs].transpose("chain", "draw").values)
           for theirs, ours in BAMBI_NAMES.items()}
    return {"e2e_s": e2e, "compile_s": None, "ess": ess}


def child(peer: str, out: Path, draws: int, chains: int) -> None:
    data = _data()
    if peer == "bambi":
        record = run_bambi(data, draws, chains)
    else:
        record = run_hierlmm(data, draws, chains, PEERS[peer])
    record["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    record["min_ess"] = min(record["ess"].values())
    record["ess_per_s"] = record["min_ess"] / record["e2e_s"]
    out.write_text(json.dumps(record))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", choices=tuple(PEERS) + ("bambi",))
    parser.add_argument("--peers", default=",".join((*PEERS, "bambi")),
                        help="comma-separated peers to run (default: all)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    draws, chains = (300, 2) if args.quick else (1000, 4)
    if args.child:
        child(args.child, args.out, draws, chains)
        return 0
    records = {}
    with tempfile.TemporaryDirectory() as tmp:
        for peer in args.peers.split(","):
            out = Path(tmp) / f"{peer}.json"
            subprocess.run([sys.executable, __file__, "--child", peer, "--out", str(out),
                            *(["--quick"] if args.quick else [])], check=False)
            records[peer] = json.loads(out.read_text()) if out.exists() else None
    print(f"logistic GLMM {N_SUBJECTS} x {N_VISITS}, {chains} chains x {draws} draws")
    for peer, rec in records.items():
        if rec is None:
            print(f"  {peer:15s} failed")
            continue
        print(f"  {peer:15s} e2e {rec['e2e_s']:7.1f} s  min bulk ESS {rec['min_ess']:7.0f}  "
              f"ESS/s {rec['ess_per_s']:6.2f}  peak {rec['peak_mb']:6.0f} MiB")
    bambi = records.get("bambi")
    for peer in PEERS:
        if bambi and records.get(peer):
            ratio = records[peer]["ess_per_s"] / bambi["ess_per_s"]
            print(f"  ESS/s ratio {peer} / bambi: {ratio:.2f} (target >= 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
