"""Nested ICC on Pastes-like data: each quantity under its own label, checked by hand.

Pastes (lme4): 10 batches x 3 casks x 2 samples, strength ~ 1 + (1 | batch/cask). The
share of variance due to cask (``icc``) is not the correlation of two samples of the same
cask (``corr_same``, which adds the batch variance); the report must not mix them up.
"""

from __future__ import annotations

import numpy as np
import pytest

import hierlmm
from hierlmm.document.figures import Plot, Table, variance_blocks
from hierlmm.model import names
from hierlmm.report.variance import icc

FIT_KW = dict(draws=200, tune=300, chains=2, seed=4, progress=False, warn_convergence=False)
CASK = "batch:cask"


@pytest.fixture(scope="module")
def pastes_fit() -> hierlmm.Fit:
    sim = hierlmm.datasets.simulate_nested(n_schools=10, classes_per_school=3,
                                           students_per_class=2, sd_school=1.3,
                                           sd_class=2.9, sigma=0.8, beta=(60.0, 0.0), seed=1)
    data = sim.data.rename(columns={"school": "batch", "class": "cask", "score": "strength"})
    return hierlmm.fit("strength ~ 1 + (1 | batch/cask)", data, **FIT_KW)


def hand_computed(fit: hierlmm.Fit) -> dict[str, float]:
    """Posterior means of the ICC quantities from the SD draws, by hand."""
    post = fit.posterior
    batch = post[names.sd("batch")].values[..., 0] ** 2
    cask = post[names.sd(CASK)].values[..., 0] ** 2
    resid = post[names.SIGMA].values ** 2
    total = batch + cask + resid
    return {
        f"icc({CASK})": float(np.mean(cask / total)),
        f"corr_same({CASK})": float(np.mean((batch + cask) / total)),
        "icc(batch)": float(np.mean(batch / total)),
        "corr_same(batch)": float(np.mean(batch / total)),
        f"design_effect({CASK})": float(np.mean(1 + (2 - 1) * (batch + cask) / total)),
    }


def test_nested_icc_rows_match_the_hand_computation(pastes_fit) -> None:
    table = icc(pastes_fit).set_index("parameter")
    expected = hand_computed(pastes_fit)
    for parameter, value in expected.items():
        assert table.loc[parameter, "mean"] == pytest.approx(value, rel=1e-10), parameter
    # cask's share is well below the within-cask correlation (Pastes: about 0.74 vs 0.94)
    assert expected[f"icc({CASK})"] < expected[f"corr_same({CASK})"] - 0.05
    assert "due to batch:cask alone" in table.loc[f"icc({CASK})", "description"]
    same = table.loc[f"corr_same({CASK})", "description"]
    assert same.startswith("correlation of two observations in the same batch:cask "
                           "(hence the same batch)")
    assert "1 + (m - 1) corr_same" in table.loc[f"design_effect({CASK})", "description"]


def test_report_plots_both_quantities_under_their_own_labels(pastes_fit) -> None:
    blocks = variance_blocks(pastes_fit, 0.9)
    plot = next(b for b in blocks if isinstance(b, Plot))
    ax = plot.figure.axes[1]
    labels = [t.get_text() for t in ax.get_yticklabels()]  # first row at the top
    assert labels == ["Variance share of batch", "Corr. within the same batch",
                      f"Variance share of {CASK}", f"Corr. within the same {CASK}"]
    expected = hand_computed(pastes_fit)
    points = ax.lines[0].get_xdata()  # errorbar markers, in row order
    assert points[2] == pytest.approx(expected[f"icc({CASK})"], rel=1e-10)
    assert points[3] == pytest.approx(expected[f"corr_same({CASK})"], rel=1e-10)
    assert "within-level correlations" in plot.caption
    icc_table = next(b for b in blocks if isinstance(b, Table) and "Intraclass" in b.caption)
    assert "description" in icc_table.frame.columns
