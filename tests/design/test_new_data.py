"""Encoding new rows with the encoders kept by build_design (no formulae on the training rows)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import hierlmm.design.encode as encode
from hierlmm.design import build_design
from hierlmm.design.encoders import Encoders, TermEncoder
from hierlmm.design.new_data import encoders_for, new_fixed_matrix, new_group_design
from hierlmm.errors import DataError
from hierlmm.spec import parse_formula

FORMULA = "y ~ center(x) + poly(z, 2) + C(treat) + (1 + scale(x) | g) + (0 + x | site)"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 60
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.uniform(1.0, 9.0, size=n),
            "z": rng.normal(size=n),
            "treat": rng.choice(["a", "b", "c"], size=n),
            "g": rng.integers(1, 7, size=n),
            "site": rng.choice(["s1", "s2", "s3"], size=n),
        }
    )


@pytest.fixture(scope="module")
def spec():
    return parse_formula(FORMULA)


@pytest.fixture(scope="module")
def design(spec, frame: pd.DataFrame):
    return build_design(spec, frame)


@pytest.fixture
def count_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Formulas that go through hierlmm's formulae entry point from now on."""
    calls: list[str] = []
    original = encode.design_matrices

    def counting(formula: str, data: pd.DataFrame):
        calls.append(formula)
        return original(formula, data)

    monkeypatch.setattr(encode, "design_matrices", counting)
    return calls


def test_build_design_keeps_one_encoder_per_formula(spec, design) -> None:
    encoders = design.encoders
    assert isinstance(encoders, Encoders)
    assert encoders.fixed.formula == spec.fixed_formula
    assert dict(encoders.slopes) == {
        "g": (TermEncoder("0 + scale(x)", encoders.slopes["g"][0].matrix),),
        "site": (TermEncoder("0 + x", encoders.slopes["site"][0].matrix),),
    }
    with pytest.raises(TypeError):
        encoders.slopes["g"] = ()  # read-only mapping
    assert np.shares_memory(design.X, encoders.fixed.matrix.design_matrix)  # X is not copied


def test_training_rows_reproduce_the_design(spec, design, frame, count_calls) -> None:
    X = new_fixed_matrix(spec, design, frame)
    np.testing.assert_allclose(X, design.X, rtol=1e-12, atol=1e-12)
    for group in design.groups:
        new = new_group_design(spec, design, group, frame)
        np.testing.assert_array_equal(new.codes, group.codes)
        np.testing.assert_allclose(new.Z, group.Z, rtol=1e-12, atol=1e-12)
        assert new.unseen == () and new.n_known == group.n_levels
    assert count_calls == []  # formulae never ran on the training rows again


def test_new_rows_use_training_state(spec, design, frame, count_calls) -> None:
    new = pd.DataFrame(
        {"x": [5.0, 2.0], "z": frame["z"][:2], "treat": ["b", "a"], "g": [3, 99],
         "site": ["s2", "s9"]}
    )  # fmt: skip
    X = new_fixed_matrix(spec, design, new)
    assert X.shape == (2, design.p)
    np.testing.assert_allclose(X[:, 1], new["x"] - frame["x"].mean(), rtol=1e-12)
    np.testing.assert_allclose(X[:, 2:4], design.X[:2, 2:4], rtol=1e-12)  # training poly basis
    g = new_group_design(spec, design, design.group("g"), new)
    scaled = (new["x"] - frame["x"].mean()) / frame["x"].std(ddof=0)
    np.testing.assert_allclose(g.Z[:, 1], scaled, rtol=1e-10)
    assert g.unseen == ("99",)
    np.testing.assert_array_equal(g.codes, [2, design.group("g").n_levels])
    site = new_group_design(spec, design, design.group("site"), new)
    assert site.unseen == ("s9",)
    np.testing.assert_array_equal(site.Z[:, 0], new["x"])
    assert count_calls == []


def test_hand_built_design_fits_its_encoders(spec, design, frame, count_calls) -> None:
    bare = dataclasses.replace(design, encoders=None)
    encoders = encoders_for(spec, bare)
    assert isinstance(encoders, Encoders) and encoders is not design.encoders
    assert count_calls  # fitted again, on the design's own rows
    np.testing.assert_allclose(
        new_fixed_matrix(spec, bare, frame.iloc[:5]), design.X[:5], rtol=1e-12
    )
    assert encoders_for(spec, design) is design.encoders


def test_new_rows_errors(spec, design) -> None:
    row = {"x": [5.0], "z": [0.0], "treat": ["b"], "g": [3], "site": ["s2"]}
    with pytest.raises(DataError, match="new_data must be a pandas DataFrame, got dict"):
        new_fixed_matrix(spec, design, row)
    with pytest.raises(DataError, match="new_data has no rows"):
        new_fixed_matrix(spec, design, pd.DataFrame(row).iloc[:0])
    with pytest.raises(DataError, match="column 'treat'"):
        new_fixed_matrix(spec, design, pd.DataFrame(row).drop(columns="treat"))
    with pytest.raises(DataError, match=r"cannot evaluate 'y ~ 1 \+ center\(x\)"):
        new_fixed_matrix(spec, design, pd.DataFrame(dict(row, treat=["zzz"])))
    with pytest.raises(DataError, match="has missing values in new_data"):
        new_group_design(spec, design, design.group("g"), pd.DataFrame(dict(row, g=[None])))


def test_same_matrices_as_re_encoding_the_training_rows(spec, design, frame) -> None:
    """The kept encoders give what re-running formulae on the training rows gave."""
    new = frame.iloc[::7].assign(x=lambda d: d["x"] + 0.5)
    old_X = encode.design_matrices(spec.fixed_formula, frame).common.evaluate_new_data(new)
    np.testing.assert_array_equal(new_fixed_matrix(spec, design, new), old_X.design_matrix)
    old_slope = encode.design_matrices("0 + scale(x)", frame).common.evaluate_new_data(new)
    Z = new_group_design(spec, design, design.group("g"), new).Z
    np.testing.assert_array_equal(Z[:, 1], old_slope.design_matrix.reshape(-1))
