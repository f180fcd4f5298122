"""Write ``sleepstudy_reml.json``: statsmodels MixedLM REML estimates on lme4's sleepstudy.

Run from the repository root once (and again whenever statsmodels changes)::

    .venv/bin/python tests/statistical/reference/make_sleepstudy_reml.py

The model is ``Reaction ~ Days + (Days | Subject)``, fitted with
``smf.mixedlm("Reaction ~ Days", df, groups=df["Subject"], re_formula="~Days")
.fit(reml=True)``. Random-effect SDs are the square roots of the diagonal of ``cov_re``
and the residual SD is ``sqrt(scale)``. ``test_reml_agreement.py`` compares hierlmm's
posterior with the stored numbers and recomputes them live to check the file is current.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels
import statsmodels.formula.api as smf

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "sleepstudy_reml.json"


def sleepstudy_reml(data: pd.DataFrame) -> dict:
    """REML fit of ``Reaction ~ Days + (Days | Subject)`` as a JSON-ready dict.

    Parameters
    ----------
    data : pandas.DataFrame, shape (180, 3)
        sleepstudy with columns ``Reaction, Days, Subject``.

    Returns
    -------
    dict
        ``fixed`` and ``fixed_se`` ({"Intercept", "Days"}), ``sd`` ({"Intercept", "Days"}),
        ``corr``, ``sigma``, ``llf``, ``converged`` and provenance keys.
    """
    result = smf.mixedlm(
        "Reaction ~ Days", data, groups=data["Subject"], re_formula="~Days"
    ).fit(reml=True)
    cov = np.asarray(result.cov_re, dtype=float)  # (2, 2), order Intercept, Days
    sd = np.sqrt(np.diag(cov))
    return {
        "model": "Reaction ~ Days + (Days | Subject)",
        "method": "statsmodels MixedLM, reml=True",
        "statsmodels_version": statsmodels.__version__,
        "fixed": {k: float(v) for k, v in result.fe_params.items()},
        "fixed_se": {k: float(v) for k, v in result.bse_fe.items()},
        "sd": {"Intercept": float(sd[0]), "Days": float(sd[1])},
        "corr": float(cov[0, 1] / (sd[0] * sd[1])),
        "sigma": float(np.sqrt(result.scale)),
        "llf": float(result.llf),
        "converged": bool(result.converged),
    }


def main() -> None:
    import hierlmm

    values = sleepstudy_reml(hierlmm.datasets.load("sleepstudy"))
    REFERENCE.write_text(json.dumps(values, indent=2) + "\n")
    print(f"wrote {REFERENCE}")


if __name__ == "__main__":
    main()
