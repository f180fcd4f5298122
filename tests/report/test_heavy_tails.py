"""Student-t residuals with nu <= 2 in some draws: the residual variance is infinite there.

Convention (hierlmm.report.variance.infinite_residual_note): the draws are kept; the
residual share is 1 and each ICC 0 in them (their limits); the residual variance and SD
rows summarise infinite draws; and every affected row carries a note counting them, shown
in report.html. No NaN share, no silent inf."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hierlmm
from hierlmm.document.figures import variance_blocks
from hierlmm.report.variance import icc, infinite_residual_note, variance_components

pytestmark = pytest.mark.slow  # one Student-t fit with the sampled engine


@pytest.fixture(scope="module")
def cauchy_fit() -> hierlmm.Fit:
    """Cauchy residuals (nu = 1): most posterior draws of nu fall below 2."""
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(12), 15)
    y = 1.0 + rng.normal(0, 1.0, 12)[g] + 0.5 * rng.standard_cauchy(g.size)
    data = pd.DataFrame({"y": y, "g": [f"g{k}" for k in g]})
    return hierlmm.fit("y ~ 1 + (1 | g)", data, family="student_t", draws=300, tune=300,
                       chains=2, seed=5, progress=False, warn_convergence=False)


def test_infinite_residual_draws_are_counted_and_take_their_limits(cauchy_fit) -> None:
    nu = cauchy_fit.posterior["nu"].values
    heavy = nu <= 2
    assert heavy.mean() > 0.2  # the case this convention is for
    table = variance_components(cauchy_fit).set_index("parameter")
    expected_note = infinite_residual_note(np.where(heavy, np.inf, 1.0))
    assert expected_note.startswith(f"{int(heavy.sum())} of {nu.size} posterior draws")
    residual = [p for p in table.index if p.startswith(("share(", "sigma", "var(residual",
                                                        "sd(residual"))]
    for parameter in residual:
        assert table.loc[parameter, "note"] == expected_note, parameter
    assert table.loc["var(Intercept|g)", "note"] is None
    share = table.loc["share(residual)"]
    assert np.isfinite(share["mean"]) and share["mean"] >= heavy.mean() - 1e-12
    assert share["q95"] == pytest.approx(1.0)
    iccs = icc(cauchy_fit).set_index("parameter")
    assert expected_note in iccs.loc["icc(g)", "note"]
    assert 0 <= iccs.loc["icc(g)", "mean"] <= 1 - heavy.mean() + 1e-12


def test_report_shows_the_note(cauchy_fit) -> None:
    texts = [b.text for b in variance_blocks(cauchy_fit, 0.9) if hasattr(b, "text")]
    assert any("have nu <= 2, where the residual variance is infinite" in t for t in texts)
