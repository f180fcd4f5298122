"""Write ``quadrature_reference.json``: the sampled engine's posteriors that
``test_quadrature_agreement.py`` holds the quadrature engine against.

Run from the repository root once (and again whenever the simulators, the priors or the
sampled engine change; the test checks a fingerprint of each data set)::

    .venv/bin/python tests/statistical/reference/make_quadrature_reference.py

For each family of :data:`SIMULATORS` (seeded data sets, which the test imports from
here: logistic 200 subjects x 8 visits, Poisson with an exposure offset 200 x 8, the
negative-binomial simulator) the
default sampled engine (NUTS on the effects, no integration) fits the test's model with
4 chains x 4,000 draws after 1,000 tuning steps, seed 3: four times the draws the test
used to fit live, so the reference's own Monte Carlo error is half as large (the
logistic slope SD, the slowest, had a bulk ESS of 69 of 4 x 1,000). Stored per
parameter: posterior mean, SD and bulk ESS; per effect level and term: mean and SD.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import arviz_base
import numpy as np
import pandas as pd
import pymc

import hierlmm

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "quadrature_reference.json"
SETTINGS = {"draws": 4000, "tune": 1000, "chains": 4, "seed": 3, "progress": False,
            "warn_convergence": False}
SIMULATORS = {
    "bernoulli": lambda: hierlmm.datasets.simulate_remission(n_subjects=200, n_visits=8,
                                                              seed=1),
    "poisson": lambda: hierlmm.datasets.simulate_poisson_offset(n_groups=200, n_per_group=8,
                                                                seed=1),
    "negbinomial": lambda: hierlmm.datasets.simulate_overdispersed_counts(seed=1),
}


def data_fingerprint(data: pd.DataFrame) -> str:
    """A hash of a data frame's values and columns (hex)."""
    hashed = pd.util.hash_pandas_object(data, index=False).to_numpy()
    return f"{int(np.bitwise_xor.reduce(hashed)):016x}-{len(data)}-{'|'.join(data.columns)}"


def reference(formula: str, data: pd.DataFrame, family: str) -> dict:
    """The sampled engine's posterior summaries of ``formula`` on ``data``.

    Returns
    -------
    dict
        ``parameters``: {name: {"mean", "sd", "ess_bulk"}}; ``effects``: {"name",
        "mean", "sd"} with nested lists of shape (levels, terms); provenance keys.
    """
    fit = hierlmm.fit(formula, data, family=family, engine="sampled", **SETTINGS)
    table = fit.summary()
    name = next(v for v in fit.posterior.data_vars if v.startswith("b_"))
    effects = fit.posterior[name].stack(s=("chain", "draw"))
    return {
        "formula": formula,
        "family": family,
        "data": data_fingerprint(data),
        "settings": {k: v for k, v in SETTINGS.items() if k != "progress"},
        "parameters": {k: {"mean": float(r["mean"]), "sd": float(r["sd"]),
                           "ess_bulk": float(r["ess_bulk"])} for k, r in table.iterrows()},
        "effects": {"name": name, "mean": effects.mean("s").values.tolist(),
                    "sd": effects.std("s").values.tolist()},
        "divergences": int(fit.diagnostics()["divergences"]),
    }


def main() -> None:
    out = {"versions": {"hierlmm": hierlmm.__version__, "pymc": pymc.__version__,
                        "arviz_base": arviz_base.__version__,
                        "python": sys.version.split()[0]}}
    for family, simulate in sorted(SIMULATORS.items()):
        sim = simulate()
        out[family] = reference(sim.formula, sim.data, family)
        print(family, out[family]["divergences"], "divergences, min ESS",
              round(min(p["ess_bulk"] for p in out[family]["parameters"].values())))
    REFERENCE.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
