"""Check a DataFrame against a :class:`~hierlmm.spec.ModelSpec` before and after encoding.

Every check raises :class:`~hierlmm.errors.DataError` (or :class:`~hierlmm.errors.SpecError`
for a bad option or term) whose message names the column or term and says what to do.
Checks on raw columns run before encoding; checks on encoded arrays (constant response,
non-finite transforms, rank of ``X``, single-level factors) run after it.
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from hierlmm.errors import DataError, SpecError
from hierlmm.options import NaAction, check_option
from hierlmm.spec.schema import ModelSpec
from hierlmm.spec.transforms import term_columns

_RANK_RTOL = 1e-10
_MAX_LISTED = 25


def term_variables(term: str) -> tuple[str, ...]:
    """Data columns a formula term reads, in order of first appearance.

    See :func:`hierlmm.spec.transforms.term_columns`, which this re-exports for the
    design stage.

    Examples
    --------
    >>> term_variables("log(`math.score`):Days")
    ('math.score', 'Days')
    """
    return term_columns(term)


def used_columns(spec: ModelSpec) -> dict[str, str]:
    """Map every data column the spec reads to the role that first needs it.

    Parameters
    ----------
    spec : ModelSpec

    Returns
    -------
    dict of str to str
        Column name -> role description (e.g. ``"the response 'log(y)'"``), in the order
        response, fixed terms, slopes, grouping factors, residual time/group columns.
    """
    roles: list[tuple[str, str]] = []
    roles += [(c, f"the response {spec.response!r}") for c in term_variables(spec.response)]
    for key in ("trials", "offset"):
        term = getattr(spec, key, None)
        if term is not None:
            roles += [(c, f"the {key} {term!r}") for c in term_variables(term)]
    for term in spec.fixed:
        roles += [(c, f"the fixed term {term!r}") for c in term_variables(term)]
    for g in spec.groups:
        for term in g.slopes:
            roles += [(c, f"the slope {term!r} of {g.factor!r}") for c in term_variables(term)]
        roles += [(c, f"the grouping factor {g.factor!r}") for c in g.columns]
    if spec.residual.time is not None:
        roles.append((spec.residual.time, "the residual time column"))
    factors = {g.factor for g in spec.groups}
    if spec.residual.group is not None and spec.residual.group not in factors:
        roles.append((spec.residual.group, "the residual group column"))
    out: dict[str, str] = {}
    for column, role in roles:
        out.setdefault(column, role)
    return out


def check_response_not_reused(spec: ModelSpec) -> None:
    """Raise :class:`SpecError` if a response column is also a predictor or grouping factor.

    Such a model explains the response by itself (or groups it by its own values).
    """
    response = set(term_variables(spec.response))
    roles = [(t, "a fixed term", term_variables(t)) for t in spec.fixed]
    for g in spec.groups:
        roles += [(t, f"a random slope of {g.factor!r}", term_variables(t)) for t in g.slopes]
        roles.append((g.factor, "a grouping factor", g.columns))
    for term, role, columns in roles:
        reused = sorted(response & set(columns))
        if reused:
            raise SpecError(
                f"the response column {reused[0]!r} is also used in {role} ({term!r}); a "
                "model cannot predict the response from itself: remove it from the "
                "right-hand side"
            )


def check_frame(data: object) -> pd.DataFrame:
    """Return ``data`` if it is a non-empty DataFrame, else raise :class:`DataError`."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"data must be a pandas DataFrame, got {type(data).__name__}; "
            "wrap it with pandas.DataFrame(...)"
        )
    if data.shape[0] == 0:
        raise DataError("data has no rows; pass a DataFrame with at least one observation")
    if isinstance(data.columns, pd.MultiIndex):
        raise DataError(
            f"data has MultiIndex columns ({data.columns.nlevels} levels, e.g. "
            f"{data.columns[0]!r}); flatten them to one name per column, e.g. "
            "data.columns = ['_'.join(map(str, c)) for c in data.columns]"
        )
    return data


def check_na_action(na_action: object) -> str:
    """Return ``na_action`` if it is ``"raise"`` or ``"drop"``, else raise :class:`SpecError`."""
    return check_option("na_action", na_action, NaAction)


def check_columns(data: pd.DataFrame, columns: dict[str, str]) -> None:
    """Raise :class:`DataError` if a used column is missing or duplicated.

    Parameters
    ----------
    data : pandas.DataFrame
    columns : dict of str to str
        Output of :func:`used_columns`.
    """
    available = [str(c) for c in data.columns]
    for column, role in columns.items():
        if column not in data.columns:
            close = difflib.get_close_matches(column, available, n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
            listed = ", ".join(available[:_MAX_LISTED])
            more = f", ... ({len(available)} in all)" if len(available) > _MAX_LISTED else ""
            raise DataError(
                f"column {column!r} (used by {role}) is not in the data; {hint}"
                f"available columns: {listed}{more}"
            )
        if int(np.sum(data.columns == column)) > 1:
            raise DataError(
                f"column {column!r} (used by {role}) appears more than once in the data; "
                "rename the duplicates"
            )


def check_residual_group(data: pd.DataFrame, spec: ModelSpec) -> None:
    """Raise :class:`DataError` if the residual group is neither a factor nor a column.

    ``ResidualSpec.group`` may name a grouping factor of the model (``"Subject"``,
    ``"school:class"``) or any data column; ``None`` means the first grouping factor.
    """
    group = spec.residual.group
    factors = [g.factor for g in spec.groups]
    if group is None or group in factors or group in data.columns:
        return
    close = difflib.get_close_matches(group, factors + [str(c) for c in data.columns], n=3)
    hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
    named = ", ".join(map(repr, factors)) or "none"
    raise DataError(
        f"residual group {group!r} is neither a column of the data nor a grouping factor of "
        f"the model ({named}); {hint}give the column within which each series runs"
    )


def check_residual_time_dtype(data: pd.DataFrame, spec: ModelSpec) -> None:
    """Raise :class:`DataError` if the residual time column is not numeric."""
    column = spec.residual.time
    if column is None or is_numeric(data[column]):
        return
    raise DataError(
        f"residual time column {column!r} has dtype {data[column].dtype}, which is not "
        f'numeric; kind="{spec.residual.kind}" needs numeric times: convert it with '
        "pandas.to_numeric (dates, e.g., to days since the first visit)"
    )


def is_numeric(series: pd.Series) -> bool:
    """Whether a column holds real numbers (bool, complex, strings, categories do not)."""
    dtype = series.dtype
    return (
        ptypes.is_numeric_dtype(dtype)
        and not ptypes.is_bool_dtype(dtype)
        and not ptypes.is_complex_dtype(dtype)
        and not isinstance(dtype, pd.CategoricalDtype)
    )


def check_response_dtype(data: pd.DataFrame, spec: ModelSpec) -> None:
    """Raise :class:`DataError` if a column of the response is not numeric."""
    for column in term_variables(spec.response):
        if not is_numeric(data[column]):
            raise DataError(
                f"response column {column!r} has dtype {data[column].dtype}, which is not "
                f"numeric; the {spec.family} family needs a numeric response: convert it with "
                "pandas.to_numeric or pick a numeric column (family 'bernoulli' also takes "
                "bool or a column with two labels)"
            )


def check_slope_dtypes(data: pd.DataFrame, spec: ModelSpec) -> None:
    """Raise :class:`DataError` if a random-slope term reads a non-numeric column."""
    for g in spec.groups:
        for term in g.slopes:
            for column in term_variables(term):
                if not is_numeric(data[column]):
                    raise DataError(
                        f"random slope {term!r} of grouping factor {g.factor!r} reads column "
                        f"{column!r} of dtype {data[column].dtype}, which is not numeric; use "
                        "a numeric column, or dummy-code it into 0/1 columns and give each as "
                        "a slope"
                    )


def bad_rows(data: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Boolean frame, shape (n, len(columns)): missing values, and inf in numeric columns."""
    bad = {}
    for column in columns:
        series = data[column]
        mask = series.isna().to_numpy(dtype=bool)
        if ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype):
            values = series.to_numpy(dtype=float, na_value=np.nan)
            mask = mask | np.isinf(values)
        bad[column] = mask
    return pd.DataFrame(bad, index=data.index)


def handle_missing(
    data: pd.DataFrame, columns: list[str], na_action: str
) -> tuple[pd.DataFrame, int]:
    """Raise on, or drop, rows with NaN/None/inf in the used columns.

    Parameters
    ----------
    data : pandas.DataFrame, shape (n_in, k)
    columns : list of str
        Columns the model uses.
    na_action : {"raise", "drop"}

    Returns
    -------
    kept : pandas.DataFrame, shape (n, len(columns))
        The used columns of the kept rows, index reset to ``0..n-1``.
    n_dropped : int
        ``n_in - n``.
    """
    bad = bad_rows(data, columns)
    row_bad = bad.any(axis=1).to_numpy()
    n_bad = int(row_bad.sum())
    if n_bad and na_action == "raise":
        counts = bad.sum(axis=0)
        named = ", ".join(f"{c!r} ({int(k)} rows)" for c, k in counts.items() if k)
        raise DataError(
            f"{n_bad} of {len(data)} rows have missing or infinite values in column(s) "
            f'{named}; fill them, or pass na_action="drop" to drop those rows'
        )
    kept = data.loc[~row_bad, columns].reset_index(drop=True)
    if kept.shape[0] == 0:
        raise DataError(
            f"every row has a missing or infinite value in column(s) {', '.join(columns)}; "
            "no observations are left to fit"
        )
    return kept, n_bad


def check_finite(values: np.ndarray, names: tuple[str, ...], what: str) -> None:
    """Raise :class:`DataError` if an encoded array has NaN/inf (e.g. ``log`` of 0).

    Parameters
    ----------
    values : ndarray, shape (n,) or (n, k)
    names : tuple of str, length k (1 for a vector)
        Column or term names used in the message.
    what : str
        What the array is, e.g. ``"fixed-effect column"``.
    """
    matrix = values.reshape(values.shape[0], -1)
    bad = ~np.isfinite(matrix)
    if not bad.any():
        return
    cols = np.flatnonzero(bad.any(axis=0))
    named = ", ".join(f"{names[j]!r} ({int(bad[:, j].sum())} rows)" for j in cols)
    raise DataError(
        f"{what} {named} evaluates to NaN or infinity after its transform (e.g. log of a "
        "value <= 0); transform the column so it is defined for every row, or remove "
        "those rows"
    )


def check_response_values(y: np.ndarray, response: str) -> None:
    """Raise :class:`DataError` if the encoded response, shape (n,), is non-finite or constant."""
    check_finite(y, (response,), "response")
    if y.shape[0] < 2 or np.ptp(y) == 0:
        raise DataError(
            f"response {response!r} is constant (value {y[0]!r} in all {y.shape[0]} rows); "
            "a model needs a response that varies"
        )


def check_levels(factor: str, levels: tuple[str, ...]) -> None:
    """Raise :class:`DataError` if grouping factor ``factor`` has fewer than two levels."""
    if len(levels) < 2:
        raise DataError(
            f"grouping factor {factor!r} has a single level ({levels[0]!r}); a random "
            f"effect needs at least 2 levels: drop ({factor}) from the model or use data "
            "with several groups"
        )


def check_distinct_labels(column: str, uniques: pd.Index) -> None:
    """Raise :class:`DataError` if distinct values of ``column`` share a printed label.

    A column holding both the int ``308`` and the str ``"308"`` would give two levels both
    labelled ``'308'``; the message names the values and their types.
    """
    labels = [str(u) for u in uniques]
    if len(set(labels)) == len(labels):
        return
    seen: dict[str, object] = {}
    for value, label in zip(uniques, labels, strict=True):
        if label in seen:
            first = seen[label]
            raise DataError(
                f"grouping column {column!r} holds {first!r} ({type(first).__name__}) and "
                f"{value!r} ({type(value).__name__}), which print alike; convert the column "
                f"to one type, e.g. data[{column!r}] = data[{column!r}].astype(str)"
            )
        seen[label] = value


def check_full_rank(X: np.ndarray, names: tuple[str, ...]) -> None:
    """Raise :class:`DataError` if the fixed-effects matrix is rank deficient.

    Columns are scaled to unit norm, so the tolerance (``1e-10`` of the largest singular
    value) does not depend on the units of the predictors.

    Parameters
    ----------
    X : ndarray of float64, shape (n, p)
    names : tuple of str, length p
    """
    n, p = X.shape
    if p == 0:
        return
    unit = _unit_columns(X)
    if _rank(unit) == p:
        return
    if n < p:
        raise DataError(
            f"the fixed effects have {p} columns but only {n} rows; remove fixed terms "
            f"({', '.join(names)}) or add data"
        )
    j, partners = _first_dependent_column(unit)
    if partners:
        which = f"a linear combination of {', '.join(repr(names[k]) for k in partners)}"
    else:
        which = "zero in every row"
    raise DataError(
        f"the fixed-effects design is rank deficient: column {names[j]!r} is {which}; "
        "remove one of these terms (or the intercept) so the effects are identifiable"
    )


def _unit_columns(X: np.ndarray) -> np.ndarray:
    """Columns of ``X`` (n, p) scaled to unit Euclidean norm (zero columns stay zero)."""
    norms = np.linalg.norm(X, axis=0)
    return X / np.where(norms > 0, norms, 1.0)


def _rank(matrix: np.ndarray) -> int:
    """Numerical rank with relative tolerance ``_RANK_RTOL``."""
    if matrix.shape[1] == 0:
        return 0
    return int(np.linalg.matrix_rank(matrix, rtol=_RANK_RTOL))


def _first_dependent_column(unit: np.ndarray) -> tuple[int, list[int]]:
    """First column of ``unit`` (n, p) in the span of earlier ones, and those it uses."""
    for j in range(unit.shape[1]):
        if _rank(unit[:, : j + 1]) <= j:
            earlier = unit[:, :j]
            if j == 0 or not np.any(unit[:, j]):
                return j, []
            coef, *_ = np.linalg.lstsq(earlier, unit[:, j], rcond=None)
            partners = [k for k in range(j) if abs(coef[k]) > 1e-8]
            return j, partners
    return unit.shape[1] - 1, []  # pragma: no cover - only called when rank < p
