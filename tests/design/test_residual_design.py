"""The residual design: series, times and row order of AR(1)/CAR(1) residuals, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hierlmm.design import Design, build_design
from hierlmm.design.residual import ResidualDesign
from hierlmm.errors import DataError
from hierlmm.spec import GroupSpec, ModelSpec, ResidualSpec, parse_formula

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def shuffled(sleepstudy: pd.DataFrame) -> pd.DataFrame:
    """sleepstudy in a random row order."""
    return sleepstudy.sample(frac=1.0, random_state=3).reset_index(drop=True)


@pytest.fixture
def irregular() -> pd.DataFrame:
    """Unequal series of irregular real-valued times, unsorted; a series column 'unit'."""
    return pd.DataFrame(
        {
            "y": [1.0, 3.0, 2.0, 5.0, 4.0, 7.0, 6.0, 9.0],
            "g": ["b", "a", "b", "a", "c", "a", "c", "b"],
            "unit": [20, 10, 20, 10, 30, 11, 30, 21],
            "t": [2.5, 0.75, 0.1, 3.0, 1.0, 1.75, -0.5, 9.0],
        }
    )


def test_iid_design_has_no_series(sleepstudy: pd.DataFrame) -> None:
    residual = build_design(parse_formula(FORMULA), sleepstudy).residual
    assert residual == ResidualDesign.iid()
    assert residual.is_iid and residual.n_series == 0
    assert residual.series is None and residual.time is None and residual.order is None
    with pytest.raises(ValueError, match="iid residuals have no series"):
        residual.offsets  # noqa: B018


def test_hand_built_design_defaults_to_iid() -> None:
    design = Design(
        y=np.zeros(2), X=np.ones((2, 1)), fixed_names=("Intercept",), groups=(),
        response="y", data=pd.DataFrame({"y": [0.0, 0.0]}),
    )  # fmt: skip
    assert design.residual.is_iid
    assert design.encoders is None


@pytest.mark.parametrize("kind", ["ar1", "car1"])
def test_series_design_orders_unsorted_rows(shuffled: pd.DataFrame, kind: str) -> None:
    spec = parse_formula(FORMULA, residual=ResidualSpec(kind, time="Days"))
    design = build_design(spec, shuffled)
    residual = design.residual
    assert (residual.kind, residual.group, residual.time_column) == (kind, "Subject", "Days")
    assert design.n == 180 and design.n_dropped == 0  # no row is dropped
    subject = design.group("Subject")
    np.testing.assert_array_equal(residual.series, subject.codes)
    assert residual.series_levels == subject.levels
    assert residual.time.dtype == np.float64 and residual.time.shape == (180,)
    np.testing.assert_array_equal(residual.time, shuffled["Days"].to_numpy(dtype=float))
    assert residual.order.dtype == np.int64
    expected = shuffled.sort_values(["Subject", "Days"]).index.to_numpy()
    np.testing.assert_array_equal(residual.order, expected)
    ordered = shuffled.iloc[residual.order]
    assert ordered["Days"].tolist() == list(range(10)) * 18
    np.testing.assert_array_equal(residual.offsets, np.arange(0, 190, 10))
    gaps = residual.gaps.reshape(18, 10)
    assert np.isnan(gaps[:, 0]).all() and (gaps[:, 1:] == 1.0).all()
    # the design itself stays in the user's row order
    np.testing.assert_array_equal(design.y, shuffled["Reaction"].to_numpy())


def test_car1_irregular_times_and_a_plain_series_column(irregular: pd.DataFrame) -> None:
    spec = ModelSpec(
        "y", groups=(GroupSpec("g"),), residual=ResidualSpec("car1", time="t", group="unit")
    )
    residual = build_design(spec, irregular).residual
    assert residual.group == "unit" and residual.n_series == 5
    assert residual.series_levels == ("10", "11", "20", "21", "30")
    np.testing.assert_array_equal(residual.series, [2, 0, 2, 0, 4, 1, 4, 3])
    np.testing.assert_array_equal(residual.order, [1, 3, 5, 2, 0, 7, 6, 4])
    np.testing.assert_array_equal(residual.offsets, [0, 2, 3, 5, 6, 8])
    np.testing.assert_allclose(residual.gaps, [np.nan, 2.25, np.nan, np.nan, 2.4, np.nan,
                                               np.nan, 1.5])  # fmt: skip


def test_series_within_an_interaction_factor() -> None:
    frame = pd.DataFrame(
        {
            "y": np.arange(8.0),
            "school": ["s1", "s1", "s1", "s2", "s2", "s1", "s2", "s2"],
            "class": [1, 1, 2, 1, 1, 2, 2, 2],
            "visit": [2, 1, 1, 1, 2, 2, 2, 1],
        }
    )
    spec = parse_formula(
        "y ~ 1 + (1 | school/class)",
        residual=ResidualSpec("ar1", time="visit", group="school:class"),
    )
    design = build_design(spec, frame)
    residual = design.residual
    assert residual.series_levels == ("s1:1", "s1:2", "s2:1", "s2:2")
    np.testing.assert_array_equal(residual.series, design.group("school:class").codes)
    np.testing.assert_array_equal(residual.order, [1, 0, 2, 5, 3, 4, 7, 6])


def test_missing_times_follow_na_action(irregular: pd.DataFrame) -> None:
    frame = irregular.assign(t=irregular["t"].where(irregular.index != 2))
    spec = ModelSpec("y", groups=(GroupSpec("g"),), residual=ResidualSpec("car1", time="t"))
    with pytest.raises(DataError, match=r"column\(s\) 't' \(1 rows\)"):
        build_design(spec, frame)
    design = build_design(spec, frame, na_action="drop")
    assert design.n_dropped == 1 and design.n == 7
    assert design.residual.order.shape == (7,)
    frame.loc[4, "t"] = np.inf
    with pytest.raises(DataError, match=r"'t' \(2 rows\)"):
        build_design(spec, frame)


def bad(frame: pd.DataFrame, **changes) -> pd.DataFrame:
    return frame.assign(**changes)


ERRORS = [
    (ResidualSpec("ar1", time="visit"), {}, "column 'visit' (used by the residual time column)"),
    (ResidualSpec("car1", time="t"), {"t": list("abcdefgh")},
     "residual time column 't' has dtype "),
    (ResidualSpec("car1", time="t"), {"t": [True, False] * 4},
     "residual time column 't' has dtype bool, which is not numeric"),
    (ResidualSpec("ar1", time="t"), {},
     "residual time column 't' has non-integer values (2.5, 0.75, 0.1"),
    (ResidualSpec("ar1", time="t"), {"t": [1, 1, 2, 2, 1, 3, 2, 1]},
     "residual time column 't' repeats a time within one series of 'g': g 'b' at time 1; "
     "each series needs distinct times"),
    (ResidualSpec("car1", time="t", group="unit"), {"t": [1.0, 0.5, 1.0, 0.5, 2, 3, 4, 2]},
     "repeats a time within one series of 'unit': unit '10' at time 0.5; unit '20' at time 1"),
    (ResidualSpec("ar1", time="t"), {"t": [1, 1, 2, 2, 1, 3, 4, 5]},
     "residual time column 't' has gaps within series of 'g' (kind=\"ar1\" takes lag 1 as "
     "the next integer time): g 'b' jumps from time 2 to 5; g 'c' jumps from time 1 to 4; "
     'pass gaps="order"'),
    (ResidualSpec("ar1", time="t", group="Unit"), {"t": range(8)},
     "residual group 'Unit' is neither a column of the data nor a grouping factor of the "
     "model ('g'); did you mean 'unit'?"),
]  # fmt: skip


@pytest.mark.parametrize(("residual", "changes", "message"), ERRORS)
def test_bad_residual_input(
    irregular: pd.DataFrame, residual: ResidualSpec, changes: dict, message: str
) -> None:
    spec = ModelSpec("y", groups=(GroupSpec("g"),), residual=residual)
    with pytest.raises(DataError) as info:
        build_design(spec, irregular.assign(**changes))
    assert message in str(info.value)


def test_ar1_gaps_order_takes_series_as_consecutive(irregular: pd.DataFrame) -> None:
    frame = irregular.assign(t=[1, 1, 2, 2, 1, 3, 4, 5])
    spec = ModelSpec(
        "y", groups=(GroupSpec("g"),), residual=ResidualSpec("ar1", time="t", gaps="order")
    )
    residual = build_design(spec, frame).residual
    # sorted: a (rows 1, 3, 5), b (0, 2, 7), c (4, 6); every lag is one observation
    np.testing.assert_array_equal(residual.order, [1, 3, 5, 0, 2, 7, 4, 6])
    np.testing.assert_array_equal(residual.lags, [0, 1, 1, 0, 1, 1, 0, 1])
    np.testing.assert_array_equal(residual.previous, [0, 1, 0, 1, 4, 3, 4, 2])
    car1 = ModelSpec("y", groups=(GroupSpec("g"),), residual=ResidualSpec("car1", time="t"))
    np.testing.assert_array_equal(
        build_design(car1, frame).residual.lags, [0, 1, 1, 0, 1, 3, 0, 3]
    )
