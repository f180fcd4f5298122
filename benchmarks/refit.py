"""Compile once per design shape: time a second fit with another response.

Fits ``Reaction ~ Days + (Days | Subject)`` to sleepstudy, then to ``K`` further
responses on the same design (the response plus seeded noise), in one process, for the
collapsed and the sampled engine. Prints each fit's compile and total time and the ratio
of the second fit's compile time to the first's (the target: below 0.1).

    python benchmarks/refit.py               # 2 chains x 500 draws, K = 3
    python benchmarks/refit.py --refits 10
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import hierlmm

FORMULA = "Reaction ~ Days + (Days | Subject)"


def _responses(data, k: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(k):
        yield data.assign(Reaction=data["Reaction"] + rng.normal(0.0, 20.0, data.shape[0]))


def _run(engine: str, refits: int, draws: int) -> list[dict[str, float]]:
    data = hierlmm.datasets.load("sleepstudy")
    rows = []
    frames = [data, *_responses(data, refits, seed=1)]
    for k, frame in enumerate(frames):
        start = time.perf_counter()
        fit = hierlmm.fit(FORMULA, frame, engine=engine, draws=draws, tune=draws, chains=2,
                          seed=k, progress=False, warn_convergence=False)
        rows.append({"compile_s": fit.timings["compile_s"],
                     "total_s": time.perf_counter() - start})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refits", type=int, default=3)
    parser.add_argument("--draws", type=int, default=500)
    args = parser.parse_args()
    print(f"{'engine':<10} {'fit':>4} {'compile_s':>10} {'total_s':>9}")
    for engine in ("collapsed", "sampled"):
        rows = _run(engine, args.refits, args.draws)
        for k, row in enumerate(rows):
            print(f"{engine:<10} {k + 1:>4} {row['compile_s']:>10.3f} {row['total_s']:>9.2f}")
        ratio = max(r["compile_s"] for r in rows[1:]) / rows[0]["compile_s"]
        print(f"{engine:<10} worst refit compile / first compile = {ratio:.4f} (target < 0.1)")


if __name__ == "__main__":
    main()
