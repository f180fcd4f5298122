"""Formula transforms are computed safely: integers in float, poly degrees bounded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hierlmm
from hierlmm.design import build_design
from hierlmm.design.new_data import new_fixed_matrix
from hierlmm.design.numeric import categorical_columns, integers_as_floats
from hierlmm.errors import DataError, SpecError


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 40
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "days": np.tile(np.arange(10, dtype=np.int64), 4),
        "g": np.repeat(np.arange(4, dtype=np.int64), 10),
    })


def design(formula: str, data: pd.DataFrame):
    return build_design(hierlmm.parse_formula(formula), data)


def test_integer_powers_do_not_overflow(frame: pd.DataFrame) -> None:
    spec = hierlmm.parse_formula("y ~ I(days ** 64) + (1 | g)")
    d = build_design(spec, frame)
    expected = frame["days"].to_numpy(dtype=np.float64) ** 64
    np.testing.assert_allclose(d.X[:, 1], expected, rtol=1e-12)
    assert d.X[:, 1].max() == pytest.approx(9.0**64)  # int64 would wrap to garbage
    new = frame.iloc[[9]]  # new rows go through the same float evaluation
    np.testing.assert_allclose(new_fixed_matrix(spec, d, new)[:, 1], [9.0**64], rtol=1e-12)


def test_caller_frame_and_categorical_codes_are_unchanged(frame: pd.DataFrame) -> None:
    d = design("y ~ C(days) + (1 | g)", frame)
    assert d.fixed_names[1] == "C(days)[1]"  # integer labels, not '1.0'
    assert frame["days"].dtype == np.int64
    assert categorical_columns("y ~ 1 + C(days) + x") == {"days"}
    converted = integers_as_floats(frame, "y ~ 1 + days")
    assert converted["days"].dtype == np.float64 and converted["g"].dtype == np.float64
    floats_only = frame[["y"]]
    assert integers_as_floats(floats_only, "y ~ 1") is floats_only  # nothing to convert


@pytest.mark.parametrize("term", ["poly(days, 1e8)", "poly(days, 10)", "poly(days, degree=12)"])
def test_poly_degree_at_most_distinct_values_minus_one(frame: pd.DataFrame, term: str) -> None:
    with pytest.raises(DataError, match=r"poly degree .* of 'days' minus one \(9\)"):
        design(f"y ~ {term} + (1 | g)", frame)


def test_poly_degree_must_be_a_positive_integer(frame: pd.DataFrame) -> None:
    with pytest.raises(SpecError, match=r"poly degree 2\.5 must be a positive integer"):
        design("y ~ poly(days, 2.5) + (1 | g)", frame)


def test_poly_within_bounds_still_encodes(frame: pd.DataFrame) -> None:
    assert design("y ~ poly(days, 9) + (1 | g)", frame).p == 10
