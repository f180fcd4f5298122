"""Columns named with spaces or Python keywords fit, through the sampler, and report.

`` `reaction time` ~ Days + (Days | Subject) `` through the Python API and report.html;
a response ``class`` and predictor ``lambda`` through a TOML model file and the CLI with
the sampled engine (every effect sampled), recovering the known slope.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hierlmm
from hierlmm.cli import main
from hierlmm.document.figures import SECTIONS, NotApplicable, Plot

pytestmark = pytest.mark.slow  # three fits with compiles, ~3 min on 2 cores

FIT_KW = dict(draws=150, tune=150, chains=2, seed=3, progress=False, warn_convergence=False)


def test_quoted_response_with_a_space_fits_and_reports(sleepstudy, tmp_path: Path) -> None:
    data = sleepstudy.rename(columns={"Reaction": "reaction time"})
    fit = hierlmm.fit("`reaction time` ~ Days + (Days | Subject)", data, **FIT_KW)
    assert fit.design.response == "reaction time"
    assert list(fit.fixef().index) == ["Intercept", "Days"]
    slope = fit.fixef().loc["Days"]
    assert abs(slope["mean"] - 10.47) < 4 * slope["sd"]  # lme4's REML slope
    plots = {}
    for section in SECTIONS:
        try:
            blocks = section.builder(fit, 0.9)
        except NotApplicable:
            continue
        plots.update({b.name: b for b in blocks if isinstance(b, Plot)})
    assert plots["ppc_density"].figure.axes[0].get_xlabel() == "reaction time"
    assert plots["trajectories_Subject_Days"].figure.get_supylabel() == "reaction time"
    page = hierlmm.write_report(fit, tmp_path).read_text()
    assert "`reaction time` ~ 1 + Days" in page or "reaction time" in page


@pytest.fixture(scope="module")
def keyword_data() -> tuple[pd.DataFrame, float]:
    """Columns ``class`` (response), ``lambda`` (predictor) and ``g`` (12 groups x 10)."""
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(12), 10)
    lam = rng.normal(size=g.size)
    slope = 0.6
    y = 2.0 + slope * lam + rng.normal(0, 1.0, 12)[g] + rng.normal(0, 0.4, g.size)
    return pd.DataFrame({"class": y, "lambda": lam, "g": [f"g{k:02d}" for k in g]}), slope


def test_keyword_columns_fit_through_a_model_file(keyword_data, tmp_path: Path,
                                                  capsys) -> None:
    frame, slope = keyword_data
    frame.to_csv(tmp_path / "kw.csv", index=False)
    model = tmp_path / "kw.toml"
    model.write_text(
        '[data]\nsource = "kw.csv"\n'
        '[model]\nformula = "`class` ~ lambda + (1 | g)"\n'
        '[fit]\ndraws = 300\ntune = 300\nchains = 2\nseed = 5\nengine = "sampled"\n'
        'progress = false\n'
    )
    out = tmp_path / "out"
    assert main(["fit", str(model), "--out", str(out)]) == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["formula"] == "`class` ~ 1 + lambda + (1 | g)"
    assert summary["model"]["engine"] == "sampled"
    estimate = summary["fixed"]["lambda"]
    assert abs(estimate["mean"] - slope) < 4 * estimate["sd"]
    page = (out / "report.html").read_text()
    assert "lambda" in page and "`class` ~ 1 + lambda" in page
    printed = capsys.readouterr().out
    assert "lambda" in printed
