"""Response checks and extra columns of GLMM families (binary, binomial, counts).

- **bernoulli**: the response must be 0/1, bool, or a column with exactly two labels
  (strings or categories). For two labels the *second* (sorted order, or category order
  for a categorical) counts as 1; the design records it as ``event_label``.
- **binomial**: successes (the response) and trials (``ModelSpec.trials``) must be
  non-negative integers with ``trials > 0`` and ``successes <= trials``.
- **poisson / negbinomial**: the response must hold non-negative integers.
- **offset**: ``ModelSpec.offset`` evaluated per row; an offset ``log(col)`` needs
  ``col > 0`` (an exposure), named in the error.

Every failure is a :class:`~hierlmm.errors.DataError` naming the column and what to do.
A group whose responses are all 0 or all 1 is legal.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pandas.api.types as ptypes

from hierlmm.errors import DataError
from hierlmm.spec.schema import ModelSpec

_LOG_COLUMN = re.compile(r"^log\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\)$")


def code_binary(data: pd.DataFrame, spec: ModelSpec) -> tuple[pd.DataFrame, str | None]:
    """For a bernoulli response given as bool or two labels, a copy coded 0/1.

    Parameters
    ----------
    data : pandas.DataFrame, shape (n, k)
    spec : ModelSpec

    Returns
    -------
    data : pandas.DataFrame
        ``data`` itself, or a copy whose response column is float 0/1 (missing kept).
    event_label : str or None
        The label coded as 1 when the column held two labels (``"True"`` for bool).
    """
    column = spec.response
    if spec.family != "bernoulli" or column not in data.columns:
        return data, None
    series = data[column]
    if ptypes.is_bool_dtype(series.dtype):
        return data.assign(**{column: series.astype(float)}), "True"
    if ptypes.is_numeric_dtype(series.dtype) and not isinstance(series.dtype, pd.CategoricalDtype):
        return data, None
    labels = _labels(series)
    if len(labels) != 2:
        raise DataError(
            f"binary response {column!r} holds {len(labels)} distinct labels "
            f"({', '.join(map(repr, labels[:5]))}{', ...' if len(labels) > 5 else ''}); "
            "family 'bernoulli' needs 0/1, bool or exactly two labels"
        )
    event = labels[1]
    coded = series.map({labels[0]: 0.0, event: 1.0}).astype(float)
    return data.assign(**{column: coded}), str(event)


def _labels(series: pd.Series) -> list:
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.dropna())
        return [c for c in series.cat.categories if c in present]
    return sorted(series.dropna().unique(), key=str)


def check_glm_response(y: np.ndarray, spec: ModelSpec) -> None:
    """Raise :class:`DataError` if the encoded response ``y`` (n,) does not suit the family."""
    column = spec.response
    if spec.family == "bernoulli":
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            raise DataError(
                f"binary response {column!r} has {int(bad.sum())} value(s) other than 0 and 1 "
                f"(first: {y[bad][0]!r}); family 'bernoulli' needs 0/1, bool or a column with "
                "exactly two labels (the second label, in sorted or category order, counts as 1)"
            )
    elif spec.family in ("binomial", "poisson", "negbinomial"):
        what = "successes" if spec.family == "binomial" else "counts"
        _check_counts(y, column, what)


def _check_counts(values: np.ndarray, column: str, what: str) -> None:
    negative = values < 0
    if negative.any():
        raise DataError(
            f"column {column!r} ({what}) has {int(negative.sum())} negative value(s) "
            f"(first: {values[negative][0]!r}); {what} must be non-negative integers"
        )
    fractional = values != np.round(values)
    if fractional.any():
        raise DataError(
            f"column {column!r} ({what}) has {int(fractional.sum())} non-integer value(s) "
            f"(first: {values[fractional][0]!r}); {what} must be whole numbers"
        )


def check_trials(y: np.ndarray, trials: np.ndarray, spec: ModelSpec) -> None:
    """Raise :class:`DataError` unless ``0 < trials`` (n,) are integers with ``y <= trials``."""
    name = spec.trials
    nonpositive = trials <= 0
    if nonpositive.any():
        raise DataError(
            f"trials {name!r} has {int(nonpositive.sum())} value(s) <= 0 (first: "
            f"{trials[nonpositive][0]!r}); every row needs at least one trial: drop rows "
            "with no trials"
        )
    _check_counts(trials, name, "trials")
    over = y > trials
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise DataError(
            f"successes {spec.response!r} exceed trials {name!r} in {int(over.sum())} row(s) "
            f"(first: row {i}, {y[i]:g} > {trials[i]:g}); with cbind(successes, failures) the "
            "failures must be non-negative"
        )


def check_offset_columns(data: pd.DataFrame, spec: ModelSpec) -> None:
    """Raise :class:`DataError` if an offset ``log(col)`` meets ``col <= 0``."""
    match = _LOG_COLUMN.match(spec.offset or "")
    if match is None or match.group(1) not in data.columns:
        return
    column = match.group(1)
    values = pd.to_numeric(data[column], errors="coerce").to_numpy(dtype=float)
    bad = values <= 0
    if bad.any():
        raise DataError(
            f"exposure column {column!r} (offset {spec.offset!r}) has {int(bad.sum())} "
            f"non-positive value(s) (first: {values[bad][0]!r}); an exposure must be > 0"
        )
