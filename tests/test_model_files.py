"""Every model file under models/ runs through the CLI (found by glob) at its own settings.

Our examples must converge: a ConvergenceWarning printed by the CLI fails the test (this
is the model-file half of test_examples_converge.py).

The suite runs reports in strict mode (tests/conftest.py), so a report section that fails
for any of these designs (slopes, crossed, nested, growth curves) fails the test instead
of becoming a note. The report's tables are then read back from report.html and compared
with the report tables of the saved fit (loaded with hierlmm.load), so the numbers the
reader sees are checked too, and the saved file feeds predict and the report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from _report_tables import check_report_tables

import hierlmm
from hierlmm.cli import main

MODELS = sorted((Path(__file__).resolve().parents[1] / "models").glob("*.toml"))
SECTIONS = ("model", "fixed", "variance", "correlations", "variance-curve", "shrinkage",
            "trajectories", "frequentist", "ppc")


def expected_sections(fit) -> list[str]:
    """SECTIONS in page order, with the AR and GLMM sections where the model has them."""
    names = list(SECTIONS)
    if fit.design.residual.kind != "iid":
        names.insert(names.index("ppc"), "autocorrelation")
    if fit.spec.link_name != "identity":
        names += ["population-average", "family-checks"]
    return names


def test_model_files_exist() -> None:
    assert {p.stem for p in MODELS} >= {"sleepstudy", "penicillin", "pastes", "orthodont"}


@pytest.mark.slow
@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_model_file_fits(path: Path, tmp_path: Path, capsys) -> None:
    """The file's own settings: our examples converge (no convergence warning printed)."""
    argv = ["fit", str(path), "--out", str(tmp_path), "--no-progress"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 0, err
    assert "warning" not in err.lower(), err  # the CLI prints ConvergenceWarnings this way
    summary = json.loads((tmp_path / "summary.json").read_text())
    fit = hierlmm.load(tmp_path / "posterior.nc")
    assert summary["model"]["n_obs"] == fit.design.n > 0
    assert summary["diagnostics"]["max_rhat"] == pytest.approx(
        fit.diagnostics()["max_rhat"], rel=1e-9)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    statuses = dict(re.findall(r'<section id="([\w-]+)" class="status-(\w+)">', page))
    assert list(statuses) == expected_sections(fit)
    assert set(statuses.values()) <= {"ok", "skipped"}, statuses
    must_be_ok = ["model", "fixed", "variance", "shrinkage", "ppc"]
    if fit.spec.link_name == "identity":  # statsmodels compares Gaussian models only
        must_be_ok.append("frequentist")
    else:
        must_be_ok += ["population-average", "family-checks"]
    if fit.design.residual.kind != "iid":
        must_be_ok.append("autocorrelation")
    assert all(statuses[k] == "ok" for k in must_be_ok), statuses
    assert check_report_tables(page, fit) > 40
    # the reloaded fit predicts its own rows: the mean prediction tracks the response
    estimate = fit.predict(fit.design.data)["estimate"].to_numpy()
    assert np.corrcoef(estimate, fit.design.y)[0, 1] > 0.7
