"""Bad inputs to build_design: each raises a hierlmm error naming the column and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hierlmm.design import build_design
from hierlmm.design.validate import check_full_rank, term_variables, used_columns
from hierlmm.errors import DataError, SpecError
from hierlmm.spec import GroupSpec, ModelSpec, ResidualSpec


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(20240611)
    n = 12
    return pd.DataFrame(
        {
            "Reaction": rng.normal(300.0, 30.0, n),
            "Days": np.tile(np.arange(4), 3).astype(float),
            "Subject": np.repeat([308, 309, 310], 4),
            "site": np.repeat(["north", "south"], 6),
            "dose": rng.uniform(1.0, 5.0, n),
        }
    )


def basic_spec(**kwargs) -> ModelSpec:
    values = dict(
        response="Reaction",
        fixed=("Days",),
        groups=(GroupSpec("Subject", slopes=("Days",)),),
    )
    values.update(kwargs)
    return ModelSpec(**values)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("Days", ("Days",)),
        ("log(x)", ("x",)),
        ("C(g)", ("g",)),
        ("a:b", ("a", "b")),
        ("poly(x, 2)", ("x",)),
        ("I(x**2)", ("x",)),
        ("I(x * z - x)", ("x", "z")),
        ("center(x)", ("x",)),
        ("poly(x, degree=2)", ("x",)),
        ("scale", ("scale",)),
    ],
)
def test_term_variables(term: str, expected: tuple[str, ...]) -> None:
    assert term_variables(term) == expected


def test_term_variables_refuses_unknown_call() -> None:
    with pytest.raises(SpecError, match=r"os\(\)"):
        term_variables("os(x)")


def test_used_columns_order_and_roles() -> None:
    spec = ModelSpec(
        response="log(y)",
        fixed=("x", "C(g)"),
        groups=(GroupSpec("a:b", slopes=("sqrt(t)",)),),
        residual=ResidualSpec(kind="ar1", time="time"),
    )
    cols = used_columns(spec)
    assert list(cols) == ["y", "x", "g", "t", "a", "b", "time"]
    assert cols["y"] == "the response 'log(y)'"
    assert cols["t"] == "the slope 'sqrt(t)' of 'a:b'"
    assert cols["b"] == "the grouping factor 'a:b'"


def test_data_not_a_dataframe(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="must be a pandas DataFrame, got dict"):
        build_design(basic_spec(), frame.to_dict())


def test_data_empty(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="data has no rows"):
        build_design(basic_spec(), frame.iloc[:0])


def test_bad_na_action(frame: pd.DataFrame) -> None:
    with pytest.raises(SpecError, match=r"na_action='omit'.*raise, drop"):
        build_design(basic_spec(), frame, na_action="omit")


def test_disallowed_term_is_spec_error(frame: pd.DataFrame) -> None:
    with pytest.raises(SpecError, match="not an allowed transform"):
        build_design(basic_spec(fixed=("eval(Days)",)), frame)


def test_missing_response_suggests_close_match(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError) as info:
        build_design(basic_spec(response="Reacton"), frame)
    msg = str(info.value)
    assert "column 'Reacton' (used by the response 'Reacton') is not in the data" in msg
    assert "did you mean 'Reaction'" in msg
    assert "available columns: Reaction, Days, Subject, site, dose" in msg


def test_missing_column_inside_transform(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"'Dayz' \(used by the fixed term 'log\(Dayz\)'\)"):
        build_design(basic_spec(fixed=("log(Dayz)",)), frame)


def test_missing_slope_column(frame: pd.DataFrame) -> None:
    spec = basic_spec(groups=(GroupSpec("Subject", slopes=("doze",)),))
    pattern = r"'doze' \(used by the slope 'doze' of 'Subject'\).*'dose'"
    with pytest.raises(DataError, match=pattern):
        build_design(spec, frame)


def test_missing_grouping_column_in_interaction(frame: pd.DataFrame) -> None:
    spec = basic_spec(groups=(GroupSpec("site:ward"),))
    with pytest.raises(DataError, match=r"'ward' \(used by the grouping factor 'site:ward'\)"):
        build_design(spec, frame)


def test_missing_column_without_close_match(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError) as info:
        build_design(basic_spec(fixed=("zzz",)), frame)
    assert "did you mean" not in str(info.value)
    assert "available columns" in str(info.value)


def test_duplicated_column(frame: pd.DataFrame) -> None:
    dup = pd.concat([frame, frame[["Days"]]], axis=1)
    with pytest.raises(DataError, match="'Days'.*appears more than once"):
        build_design(basic_spec(), dup)


@pytest.mark.parametrize(
    "values",
    [
        ["a", "b", "c"] * 4,
        pd.Categorical(["a", "b", "c"] * 4),
        [True, False, True] * 4,
        np.array([1.0, 2.0, 3.0] * 4, dtype=object),
    ],
    ids=["string", "categorical", "bool", "object"],
)
def test_response_not_numeric(frame: pd.DataFrame, values: object) -> None:
    frame["Reaction"] = values
    with pytest.raises(DataError, match="response column 'Reaction' has dtype .* not numeric"):
        build_design(basic_spec(), frame)


def test_missing_values_raise_names_columns_and_counts(frame: pd.DataFrame) -> None:
    frame.loc[[1, 5], "Reaction"] = np.nan
    frame.loc[[5, 7], "Days"] = np.inf
    with pytest.raises(DataError) as info:
        build_design(basic_spec(), frame)
    msg = str(info.value)
    assert "3 of 12 rows have missing or infinite values" in msg
    assert "'Reaction' (2 rows)" in msg
    assert "'Days' (2 rows)" in msg
    assert 'na_action="drop"' in msg


def test_missing_grouping_label_counts(frame: pd.DataFrame) -> None:
    frame["site"] = frame["site"].astype(object)
    frame.loc[3, "site"] = None
    with pytest.raises(DataError, match=r"1 of 12 rows .* 'site' \(1 rows\)"):
        build_design(basic_spec(groups=(GroupSpec("site"),)), frame)


def test_unused_column_with_nan_is_ignored(frame: pd.DataFrame) -> None:
    frame.loc[0, "dose"] = np.nan
    design = build_design(basic_spec(), frame)
    assert design.n == 12
    assert design.n_dropped == 0


def test_all_rows_dropped(frame: pd.DataFrame) -> None:
    frame["Days"] = np.nan
    with pytest.raises(DataError, match="every row has a missing or infinite value"):
        build_design(basic_spec(), frame, na_action="drop")


def test_constant_response(frame: pd.DataFrame) -> None:
    frame["Reaction"] = 250.0
    with pytest.raises(DataError, match="response 'Reaction' is constant"):
        build_design(basic_spec(), frame)


def test_constant_after_drop(frame: pd.DataFrame) -> None:
    frame["Reaction"] = 250.0
    frame.loc[0, "Reaction"] = np.nan
    frame.loc[1, "Reaction"] = 1.0
    frame.loc[1, "Days"] = np.nan
    with pytest.raises(DataError, match="constant .* in all 10 rows"):
        build_design(basic_spec(), frame, na_action="drop")


def test_single_level_factor(frame: pd.DataFrame) -> None:
    frame["Subject"] = 308
    with pytest.raises(DataError, match=r"grouping factor 'Subject' has a single level \('308'\)"):
        build_design(basic_spec(), frame)


def test_groups_with_one_observation_are_legal(frame: pd.DataFrame) -> None:
    frame.loc[0, "Subject"] = 999
    design = build_design(basic_spec(), frame)
    g = design.group("Subject")
    assert g.levels == ("308", "309", "310", "999")
    np.testing.assert_array_equal(g.counts, [3, 4, 4, 1])


def test_rank_deficient_linear_combination(frame: pd.DataFrame) -> None:
    frame["Days2"] = 2.0 * frame["Days"] + 1.0
    with pytest.raises(DataError) as info:
        build_design(basic_spec(fixed=("Days", "Days2")), frame)
    msg = str(info.value)
    assert "column 'Days2' is a linear combination of 'Intercept', 'Days'" in msg
    assert "rank deficient" in msg


def test_rank_deficient_constant_column(frame: pd.DataFrame) -> None:
    frame["dose"] = 3.0
    with pytest.raises(DataError, match="'dose' is a linear combination of 'Intercept';"):
        build_design(basic_spec(fixed=("Days", "dose")), frame)


def test_rank_deficient_duplicate_categorical(frame: pd.DataFrame) -> None:
    frame["site2"] = frame["site"].map({"north": "up", "south": "down"})
    with pytest.raises(DataError, match=r"'C\(site2\)\[up\]' is a linear combination of"):
        build_design(basic_spec(fixed=("C(site)", "C(site2)")), frame)


def test_rank_deficient_zero_column() -> None:
    X = np.column_stack([np.ones(5), np.zeros(5), np.arange(5.0)])
    with pytest.raises(DataError, match="column 'z' is zero in every row"):
        check_full_rank(X, ("Intercept", "z", "x"))


def test_more_columns_than_rows() -> None:
    X = np.random.default_rng(3).normal(size=(2, 3))
    with pytest.raises(DataError, match="3 columns but only 2 rows"):
        check_full_rank(X, ("a", "b", "c"))


def test_full_rank_despite_wildly_different_scales() -> None:
    rng = np.random.default_rng(7)
    X = np.column_stack([np.ones(50), 1e8 * rng.normal(size=50), 1e-8 * rng.normal(size=50)])
    check_full_rank(X, ("Intercept", "big", "small"))  # must not raise


@pytest.mark.parametrize(
    "values",
    [np.repeat(["lo", "hi"], 6), np.repeat([True, False], 6)],
    ids=["string", "bool"],
)
def test_slope_not_numeric(frame: pd.DataFrame, values: np.ndarray) -> None:
    frame["arm"] = values
    spec = basic_spec(groups=(GroupSpec("Subject", slopes=("arm",)),))
    with pytest.raises(DataError) as info:
        build_design(spec, frame)
    msg = str(info.value)
    assert "random slope 'arm' of grouping factor 'Subject' reads column 'arm'" in msg
    assert "use a numeric column, or dummy-code it" in msg


def test_slope_with_several_columns(frame: pd.DataFrame) -> None:
    spec = basic_spec(groups=(GroupSpec("Subject", slopes=("C(Days)",)),))
    with pytest.raises(DataError, match=r"slope 'C\(Days\)' .* evaluates to 4 columns"):
        build_design(spec, frame)


def test_log_of_nonpositive_fixed_term(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"fixed-effect column 'log\(Days\)' \(3 rows\) .* NaN"):
        build_design(basic_spec(fixed=("log(Days)",)), frame)


def test_log_of_nonpositive_response(frame: pd.DataFrame) -> None:
    frame.loc[4, "Reaction"] = -1.0
    with pytest.raises(DataError, match=r"response 'log\(Reaction\)' \(1 rows\)"):
        build_design(basic_spec(response="log(Reaction)"), frame)


def test_log_of_nonpositive_slope(frame: pd.DataFrame) -> None:
    spec = basic_spec(groups=(GroupSpec("Subject", slopes=("log(Days)",)),))
    with pytest.raises(DataError, match=r"random slope of 'Subject': 'log\(Days\)' \(3 rows\)"):
        build_design(spec, frame)


def test_transform_of_wrong_dtype(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"cannot evaluate 'Reaction ~ 1 \+ log\(site\)'"):
        build_design(basic_spec(fixed=("log(site)",)), frame)


def test_formulae_parse_error_is_spec_error(frame: pd.DataFrame) -> None:
    with pytest.raises(SpecError, match="formulae cannot parse"):
        build_design(basic_spec(fixed=("I(Days % 2)",)), frame)


def test_polynomial_of_too_high_degree_is_refused(frame: pd.DataFrame) -> None:
    # refused before formulae builds the basis (it was a rank-deficiency error after it)
    with pytest.raises(DataError, match=r"poly degree 5 must be at most the number of distinct "
                       r"values of 'Days' minus one \(3\)"):
        build_design(basic_spec(fixed=("poly(Days, 5)",)), frame)


def test_multiindex_columns_are_refused_with_a_fix(frame: pd.DataFrame) -> None:
    frame.columns = pd.MultiIndex.from_tuples([(c, "v") for c in frame.columns])
    with pytest.raises(DataError, match=r"MultiIndex columns \(2 levels.*flatten them"):
        build_design(basic_spec(), frame)


def test_mixed_type_labels_are_refused_naming_the_values(frame: pd.DataFrame) -> None:
    frame["Subject"] = frame["Subject"].astype(object)
    frame.loc[0, "Subject"] = "308"  # the int 308 stays in rows 1-3
    with pytest.raises(DataError, match=r"grouping column 'Subject' holds 308 \(int\) and "
                       r"'308' \(str\), which print alike.*astype\(str\)"):
        build_design(basic_spec(), frame)
    frame["Subject"] = frame["Subject"].astype(str)  # the suggested fix gives 3 levels
    assert build_design(basic_spec(), frame).group("Subject").levels == ("308", "309", "310")
