"""Nested ICC on Pastes-like data: each quantity under its own label, checked by hand.

Pastes (lme4): 10 batches x 3 casks x 2 samples, strength ~ 1 + (1 | batch/cask). The
share of variance due to cask (``icc``) is not the correlation of two samples of the same
cask (``corr_same``, which adds the batch variance); the report must not mix them up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _fakes import fake_fit

import hierlmm
from hierlmm.design import build_design
from hierlmm.document.figures import Plot, Table, variance_blocks
from hierlmm.model import names
from hierlmm.report.variance import icc

CASK = "batch:cask"


@pytest.fixture(scope="module")
def pastes_fit(nested_fit) -> hierlmm.Fit:
    return nested_fit


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


# ------------------------------------- independent reference: the marginal covariance matrix
def _three_level_unbalanced() -> pd.DataFrame:
    """a / b / c with uneven counts: 3 a's; 1-3 b's per a; 1-3 c's per b; 1-4 rows per c."""
    rng = np.random.default_rng(12)
    rows = []
    for a in range(3):
        for b in range(1 + a):
            for c in range(1 + (a + b) % 3):
                for _ in range(1 + (a + 2 * b + c) % 4):
                    rows.append({"a": f"a{a}", "b": f"b{b}", "c": f"c{c}"})
    data = pd.DataFrame(rows)
    return data.assign(y=rng.normal(size=len(data)))


@pytest.mark.parametrize("formula", ["y ~ 1 + (1 | a/b/c)", "y ~ 1 + (1 | a/b)"],
                         ids=["three-level", "two-level"])
def test_nested_icc_equals_correlations_of_the_marginal_covariance(formula) -> None:
    """For every draw, build the dense marginal covariance ``V = sum_k tau_k^2 Z_k Z_k' +
    sigma^2 I`` of the unbalanced data and read the ICC quantities off it: ``icc(k) =
    tau_k^2 / V_ii``, ``corr_same(k) = V_ij / V_ii`` for two rows sharing a level of k and
    no level of a factor nested in k, ``design_effect(k) = 1 + (n / levels_k - 1)
    corr_same(k)``. The report's posterior means must equal their means over draws."""
    data = _three_level_unbalanced()
    design = build_design(hierlmm.parse_formula(formula), data)
    factors = [g.factor for g in design.groups]  # outer to inner: a, a:b (, a:b:c)
    rng = np.random.default_rng(3)
    sd = {f: np.abs(rng.normal(1.0 + k, 0.2, (2, 40, 1))) for k, f in enumerate(factors)}
    sigma = np.abs(rng.normal(1.5, 0.2, (2, 40)))
    fit = fake_fit(formula, data, sd=sd, sigma=sigma)
    table = icc(fit).set_index("parameter")
    codes = {g.factor: g.codes for g in design.groups}
    n = design.n
    expected = {f"{q}({f})": np.zeros((2, 40)) for f in factors
                for q in ("icc", "corr_same", "design_effect")}
    for c in range(2):
        for d in range(40):
            V = sigma[c, d] ** 2 * np.eye(n)
            for f in factors:
                same = codes[f][:, None] == codes[f][None, :]
                V += sd[f][c, d, 0] ** 2 * same
            for k, f in enumerate(factors):
                inner = factors[k + 1] if k + 1 < len(factors) else None
                i, j = _pair(codes[f], None if inner is None else codes[inner])
                expected[f"icc({f})"][c, d] = sd[f][c, d, 0] ** 2 / V[i, i]
                expected[f"corr_same({f})"][c, d] = V[i, j] / V[i, i]
                m = n / design.group(f).n_levels
                expected[f"design_effect({f})"][c, d] = 1 + (m - 1) * V[i, j] / V[i, i]
    assert sorted(table.index) == sorted(expected)
    for parameter, values in expected.items():
        assert table.loc[parameter, "mean"] == pytest.approx(values.mean(), rel=1e-12), parameter


def _pair(outer: np.ndarray, inner: np.ndarray | None) -> tuple[int, int]:
    """Two rows with the same ``outer`` code and (if given) different ``inner`` codes."""
    n = outer.size
    for i in range(n):
        for j in range(i + 1, n):
            if outer[i] == outer[j] and (inner is None or inner[i] != inner[j]):
                return i, j
    raise AssertionError("no such pair in the design")
