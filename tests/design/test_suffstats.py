"""Per-group sufficient statistics of the collapsed engine against brute-force sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hierlmm.design.design import Design, GroupDesign
from hierlmm.engines.collapsed.stats import group_crossprod, group_suffstats, suffstats_for
from hierlmm.errors import DataError, SpecError


def _data(seed: int = 0, n: int = 30, L: int = 6, q: int = 2, p: int = 3):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, L - 1, n)  # level L-1 has no rows
    return codes, rng.normal(size=(n, q)), rng.normal(size=(n, p)), rng.normal(size=n), L


def test_group_suffstats_equal_per_level_sums():
    codes, Z, X, y, L = _data()
    stats = group_suffstats(codes, Z, X, y, L)
    assert (stats.n_levels, stats.q, stats.p, stats.n_obs) == (6, 2, 3, 30)
    for j in range(L):
        rows = codes == j
        np.testing.assert_allclose(stats.ZtZ[j], Z[rows].T @ Z[rows], rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(stats.ZtX[j], Z[rows].T @ X[rows], rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(stats.Zty[j], Z[rows].T @ y[rows], rtol=1e-13, atol=1e-13)
        assert stats.n[j] == rows.sum()
    assert stats.n[L - 1] == 0 and not stats.ZtZ[L - 1].any()
    np.testing.assert_allclose(stats.XtX, X.T @ X, rtol=1e-13)
    np.testing.assert_allclose(stats.Xty, X.T @ y, rtol=1e-13)
    assert stats.yty == pytest.approx(float(y @ y), rel=1e-13)
    np.testing.assert_array_equal(stats.ZtZ, stats.ZtZ.transpose(0, 2, 1))


def test_group_crossprod_vector_and_matrix():
    codes, Z, X, y, L = _data(seed=1)
    one = group_crossprod(codes, Z, y, L)
    many = group_crossprod(codes, Z, X, L)
    assert one.shape == (L, 2) and many.shape == (L, 2, 3)
    j = int(codes[0])
    rows = codes == j
    np.testing.assert_allclose(one[j], Z[rows].T @ y[rows], rtol=1e-13)
    np.testing.assert_allclose(many[j], Z[rows].T @ X[rows], rtol=1e-13)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c, Z, X, y: (c + 10, Z, X, y), r"group codes must lie in \[0, 6\)"),
        (lambda c, Z, X, y: (c.astype(float), Z, X, y), "1-d integer array"),
        (lambda c, Z, X, y: (c, Z[:-1], X, y), "Z has shape"),
        (lambda c, Z, X, y: (c, Z, X, np.where(np.arange(len(y)) == 3, np.nan, y)), "y holds"),
    ],
    ids=["out-of-range", "float-codes", "short-Z", "nan-y"],
)
def test_bad_input_raises_data_error(change, message):
    codes, Z, X, y, L = _data()
    with pytest.raises(DataError, match=message):
        group_suffstats(*change(codes, Z, X, y), L)


def test_suffstats_for_design_and_unknown_factor():
    codes, Z, X, y, L = _data(seed=2)
    group = GroupDesign(
        factor="g", codes=codes, Z=Z, terms=("Intercept", "x"),
        levels=tuple(f"l{j}" for j in range(L)), correlated=True,
    )  # fmt: skip
    design = Design(
        y=y, X=X, fixed_names=("a", "b", "c"), groups=(group,), response="y",
        data=pd.DataFrame({"y": y}),
    )  # fmt: skip
    direct = group_suffstats(codes, Z, X, y, L)
    via_design = suffstats_for(design, "g")
    np.testing.assert_array_equal(via_design.ZtX, direct.ZtX)
    np.testing.assert_array_equal(suffstats_for(design, group).ZtZ, direct.ZtZ)
    with pytest.raises(SpecError, match="'h' is not in the design; choose one of: g"):
        suffstats_for(design, "h")
