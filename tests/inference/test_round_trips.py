"""Saved fits of every engine, sampler and effects mode load back, predict and report.

Each case saves a real fit, loads it with :func:`hierlmm.load` and checks that the loaded
fit gives the same summary and predictions as the original, and that the whole HTML
report (strict mode: a failing section raises) is written from the loaded fit alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hierlmm
from hierlmm.document.html import write_report
from hierlmm.engines.collapsed.effects import EFFECTS_GROUP

NEW = pd.DataFrame({"Days": [0.0, 4.5, 9.0], "Subject": ["308", "309", "372"]})


@pytest.fixture(scope="module")
def pymc_fit(sleepstudy) -> hierlmm.Fit:
    """The PyMC NUTS sampler (collapsed engine), small draws."""
    return hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, sampler="pymc",
                       draws=200, tune=200, chains=2, seed=5, progress=False,
                       warn_convergence=False)


@pytest.fixture(scope="module")
def sampled_fit(sleepstudy) -> hierlmm.Fit:
    """The sampled engine (every effect a parameter), nutpie."""
    return hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, engine="sampled",
                       draws=200, tune=200, chains=2, seed=6, progress=False,
                       warn_convergence=False)


CASES = {
    "collapsed-nutpie": ("sleep_fit", "collapsed", "nutpie"),
    "collapsed-pymc": ("pymc_fit", "collapsed", "pymc"),
    "sampled-nutpie": ("sampled_fit", "sampled", "nutpie"),
    "collapsed-thinned-effects": ("large_collapsed_fit", "collapsed", "nutpie"),
    "crossed": ("crossed_fit", "collapsed", "nutpie"),
    "nested": ("nested_fit", "collapsed", "nutpie"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_saved_fit_loads_predicts_and_reports(case, request, tmp_path: Path) -> None:
    name, engine, sampler = CASES[case]
    fit = request.getfixturevalue(name)
    assert (fit.engine, fit.sampler) == (engine, sampler)
    fit.save(tmp_path / "fit.nc")
    loaded = hierlmm.load(tmp_path / "fit.nc")
    assert (loaded.engine, loaded.sampler, loaded.seed) == (fit.engine, fit.sampler, fit.seed)
    assert set(loaded.idata.children) == set(fit.idata.children)
    pd.testing.assert_frame_equal(loaded.summary(), fit.summary())
    new = fit.design.data.iloc[::7]
    np.testing.assert_allclose(loaded.predict(new).to_numpy(), fit.predict(new).to_numpy(),
                               rtol=1e-12)
    if case == "collapsed-thinned-effects":
        assert EFFECTS_GROUP in loaded.idata.children and "b_Subject" not in loaded.posterior
    page = write_report(loaded, tmp_path / "report", strict=True).read_text(encoding="utf-8")
    assert 'class="note failed"' not in page
    assert f"<th>Engine</th><td>{engine}</td>" in page
