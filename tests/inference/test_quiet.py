"""A default fit prints nothing alarming: no PyTensor/PyMC log errors or warnings."""

from __future__ import annotations

import logging

import hierlmm


def test_collapsed_fit_logs_no_warnings(sleepstudy, caplog, capfd) -> None:
    with caplog.at_level(logging.WARNING):
        hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, seed=2, draws=300,
                    tune=300, chains=2, progress=False, warn_convergence=False)
    noisy = [r for r in caplog.records if r.name.split(".")[0] in ("pytensor", "pymc", "numba")]
    assert noisy == [], [r.getMessage()[:200] for r in noisy]
    err = capfd.readouterr().err
    assert "Rewrite failure" not in err and "Traceback" not in err, err[:500]


def test_pymc_without_progress_prints_no_initializing_line(sleepstudy, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="pymc"):
        hierlmm.fit("Reaction ~ Days + (1 | Subject)", sleepstudy, seed=2, draws=30, tune=30,
                    chains=1, sampler="pymc", engine="collapsed", progress=False,
                    warn_convergence=False)
        assert logging.getLogger("pymc").level == logging.INFO  # restored after the fit
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("pymc")]
    assert not [m for m in messages if "Initializing NUTS" in m], messages
