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
