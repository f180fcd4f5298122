"""fit_many throughput and calibration on the sleepstudy-like many-outcome simulator.

One run prints, on the design of 18 subjects x 10 days (``y ~ Days + (Days | Subject)``,
4 chains x 500 draws, 500 tune):

- ``fit_many`` end to end per outcome (local processes; target <= 0.25 s) with the min
  bulk ESS over all outcomes (target >= 400) and the compile count;
- a loop of single ``hierlmm.fit`` calls over the first ``--singles`` outcomes;
- a loop of statsmodels MixedLM REML over the same outcomes;
- calibration over all outcomes: 90% interval coverage of the Days effect (target
  85-95%) and the false sign rate among outcomes with lfsr <= 0.05 (target <= 0.05);
- with ``--dask``: 2 local processes against a Dask LocalCluster of 2 workers on the
  first ``--dask-outcomes`` outcomes (target: throughput within 20%).

    python benchmarks/many.py                      # 1,000 outcomes (make bench)
    python benchmarks/many.py --outcomes 200 --singles 10 --dask
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

import hierlmm

RESULTS = Path(__file__).with_name("results")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcomes", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--dask", action="store_true")
    parser.add_argument("--dask-outcomes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", default=None,
                        help="fit_many backend (default: jax when installed, else numba)")
    return parser.parse_args(argv)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the joined workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_many(sim, args, executor=None, m=None) -> tuple[hierlmm.ManyFits, float]:
    """The batch and its wall seconds per outcome; CPU seconds go to ``timings``."""
    outcomes = sim.outcomes if m is None else sim.outcomes.iloc[:, :m]
    start, cpu = time.perf_counter(), _cpu()
    many = hierlmm.fit_many(sim.formula, sim.data, outcomes, draws=args.draws,
                            tune=args.draws, chains=4, seed=args.seed, executor=executor,
                            workers=args.workers, progress=False, backend=args.backend)
    many.timings["cpu_s"] = _cpu() - cpu  # workers' CPU, compile included
    return many, (time.perf_counter() - start) / outcomes.shape[1]


def singles(sim, args) -> float:
    start = time.perf_counter()
    for j in range(args.singles):
        name = sim.outcomes.columns[j]
        hierlmm.fit(sim.formula, sim.data.assign(y=sim.outcomes[name]), draws=args.draws,
                    tune=args.draws, chains=4, seed=j, progress=False,
                    warn_convergence=False)
    return (time.perf_counter() - start) / args.singles


def reml(sim, args) -> float:
    import statsmodels.formula.api as smf

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(args.singles):
            frame = sim.data.assign(y=sim.outcomes.iloc[:, j])
            smf.mixedlm("y ~ Days", frame, groups="Subject", re_formula="~Days").fit(reml=True)
    return (time.perf_counter() - start) / args.singles


def calibration(many: hierlmm.ManyFits, sim) -> dict[str, float]:
    """Coverage and false sign rate; ``fsr_binom_p``: P(X >= false signs) for X ~
    Binomial(discoveries, 0.05), ``expected_false_signs``: the sum of lfsr over the
    discoveries (what a calibrated posterior predicts)."""
    from scipy import stats

    effects = many.effects(sim.effect).set_index("outcome")
    truth = sim.truth.loc[effects.index, sim.effect]
    covered = (effects["q05"] <= truth) & (truth <= effects["q95"])
    found = effects["lfsr"] <= 0.05
    wrong = found & (np.sign(effects["mean"]) != np.sign(truth))
    n_found, n_wrong = int(found.sum()), int(wrong.sum())
    naive = effects["p_direction"] >= 0.95  # 1 - p_direction <= 0.05: no shrinkage
    naive_wrong = naive & (np.sign(effects["mean"]) != np.sign(truth))
    return {"coverage90": float(covered.mean()), "discoveries": int(found.sum()),
            "false_sign_rate": float(wrong.sum() / max(1, found.sum())),
            "false_sign_nulls": int((wrong & (truth == 0)).sum()),
            "false_signs": n_wrong,
            "expected_false_signs": float(effects.loc[found, "lfsr"].sum()),
            "fsr_binom_p": float(stats.binom.sf(n_wrong - 1, max(1, n_found), 0.05)),
            "true_nonnull": int((truth != 0).sum()),
            "ash_pi0": many.shrink(sim.effect).attrs["pi0"],
            "naive_discoveries": int(naive.sum()),
            "naive_false_sign_rate": float(naive_wrong.sum() / max(1, naive.sum()))}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.backend is None:
        from hierlmm.many import jaxpath

        args.backend = "jax" if jaxpath.available() else "numba"
    sim = hierlmm.datasets.simulate_many_sleepstudy(args.outcomes, seed=args.seed)
    many, per = run_many(sim, args)
    ok = many.outcomes["status"] == "ok"
    record = {"outcomes": args.outcomes, "workers": args.workers, "backend": args.backend,
              "load_average": os.getloadavg(),
              "fit_many_s_per_outcome": per, "total_s": many.timings["total_s"],
              "compiles": many.timings["compiles"], "ok": int(ok.sum()),
              "cpu_s": many.timings["cpu_s"],
              "median_sample_wall_s": float(many.outcomes["sample_s"].median()),
              "min_ess_bulk": float(many.outcomes["min_ess_bulk"].min()),
              "outcomes_ess_below_400": int((many.outcomes["min_ess_bulk"] < 400).sum()),
              "outcomes_rescued": int(many.outcomes["rescued"].sum()),
              "lowest_ess": many.table.nsmallest(3, "ess_bulk")[
                  ["outcome", "parameter", "ess_bulk", "rhat"]].to_dict("records"),
              "max_rhat": float(many.outcomes["max_rhat"].max()),
              "divergences": int(np.nansum(many.outcomes["divergences"])),
              **calibration(many, sim)}
    print(f"fit_many   {args.outcomes} outcomes, {args.workers} workers: {per:.3f} s/outcome "
          f"(target 0.25), total {record['total_s']:.0f} s, compiles {record['compiles']}, "
          f"min ESS {record['min_ess_bulk']:.0f} ({record['outcomes_ess_below_400']} below "
          f"400; {record['outcomes_rescued']} sampled twice by min_ess), "
          f"max R-hat {record['max_rhat']:.3f}; CPU {record['cpu_s']:.0f} s in all "
          f"(compiles included); lowest ESS: {record['lowest_ess']}", flush=True)
    print(f"calibration  90% coverage of {sim.effect}: {record['coverage90']:.3f} (target "
          f"0.85-0.95); lfsr<=0.05: {record['discoveries']} discoveries of "
          f"{record['true_nonnull']} non-null, false sign rate {record['false_sign_rate']:.3f}"
          f" ({record['false_signs']} false signs, {record['false_sign_nulls']} true nulls; "
          f"{record['expected_false_signs']:.1f} expected from the lfsr; P(>= that many | "
          f"rate 0.05) = {record['fsr_binom_p']:.2f}; target <= 0.05; pi0 "
          f"{record['ash_pi0']:.2f}); without shrinkage (1 - p_direction <= 0.05): "
          f"{record['naive_discoveries']} discoveries, false sign rate "
          f"{record['naive_false_sign_rate']:.3f}", flush=True)
    import resource

    record["memory_peak_rss_mb"] = _peak_rss_mb()
    record["memory_peak_rss_mb_children"] = (
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    print(f"memory  peak RSS {record['memory_peak_rss_mb']:.0f} MB (this process; draws not "
          f"kept; workers' own peak {record['memory_peak_rss_mb_children']:.0f} MB)",
          flush=True)
    record["single_fit_s_per_outcome"] = singles(sim, args)
    record["reml_s_per_outcome"] = reml(sim, args)
    print(f"per outcome  fit_many {per:.3f} s | hierlmm.fit loop "
          f"{record['single_fit_s_per_outcome']:.3f} s | statsmodels REML "
          f"{record['reml_s_per_outcome']:.4f} s (first {args.singles})", flush=True)
    if args.dask:
        from distributed import Client, LocalCluster

        # both timings include starting the worker processes (fit_many spawns its local
        # processes inside the call; the cluster's start is timed here)
        m_dask = min(args.dask_outcomes, sim.outcomes.shape[1])
        _, local = run_many(sim, args, "processes", m_dask)
        start = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            _, running = run_many(sim, args, client, m_dask)
            on_dask = (time.perf_counter() - start) / m_dask
        record.update(local_s_per_outcome=local, dask_s_per_outcome=on_dask,
                      dask_s_per_outcome_cluster_running=running)
        print(f"scaling  {m_dask} outcomes: 2 local processes {local:.3f} s, "
              f"Dask LocalCluster(2) {on_dask:.3f} s (cluster start included; "
              f"{running:.3f} s on the running cluster), ratio {on_dask / local:.2f}")
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"many-{stamp}.json").write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
