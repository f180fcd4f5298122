"""Numeric safety of formula transforms, applied before formulae evaluates a term.

- Integer columns are handed to formulae as float64 (except those coded by ``C(...)``),
  so arithmetic such as ``I(x ** 64)`` is computed in floating point instead of silently
  wrapping around in int64.
- ``poly(x, degree)`` is checked against the distinct values of ``x`` before formulae
  allocates its (n, degree) basis, so a huge degree is a clear error, not a MemoryError.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from hierlmm.errors import DataError, SpecError
from hierlmm.spec.transforms import tokenize


def categorical_columns(formula: str) -> set[str]:
    """Columns coded by ``C(column ...)`` anywhere in ``formula``."""
    tokens = tokenize(formula.replace("~", "+").replace("|", "+"))
    return {
        tokens[i + 2][1].strip("`")
        for i in range(len(tokens) - 2)
        if tokens[i] == ("name", "C") and tokens[i + 1][1] == "("
        and tokens[i + 2][0] in ("name", "column")
    }


def integers_as_floats(data: pd.DataFrame, formula: str) -> pd.DataFrame:
    """``data`` with every integer column that ``formula`` does not code by ``C()`` as
    float64 (a copy when anything changes; the caller's frame is untouched).

    Parameters
    ----------
    data : pandas.DataFrame, shape (n, k)
    formula : str
        The formula formulae will evaluate on ``data``.

    Returns
    -------
    pandas.DataFrame, shape (n, k)
    """
    keep = categorical_columns(formula)
    convert = [
        c for c in data.columns
        if c not in keep and ptypes.is_integer_dtype(data[c].dtype)
        and not ptypes.is_bool_dtype(data[c].dtype)
    ]
    if not convert:
        return data
    out = data.copy()
    out[convert] = out[convert].astype(np.float64)
    return out


def _poly_calls(term: str) -> list[tuple[str, str]]:
    """``(column, degree text)`` of each ``poly(column, degree)`` in ``term``."""
    tokens = tokenize(term)
    calls = []
    for i, (kind, text) in enumerate(tokens[:-3]):
        if (kind, text) != ("name", "poly") or tokens[i + 1][1] != "(":
            continue
        rest = [t for _, t in tokens[i + 2 : i + 7]]
        if len(rest) >= 3 and rest[1] == ",":
            degree = rest[4] if rest[2:4] == ["degree", "="] and len(rest) > 4 else rest[2]
            calls.append((rest[0].strip("`"), degree))
    return calls


def check_poly_degrees(terms: tuple[str, ...], data: pd.DataFrame) -> None:
    """Raise if a ``poly(x, degree)`` term asks for more than ``distinct(x) - 1`` degrees.

    Parameters
    ----------
    terms : tuple of str
        Formula terms (fixed terms and slopes).
    data : pandas.DataFrame
        Rows the terms will be evaluated on.

    Raises
    ------
    SpecError
        If the degree is not a positive integer.
    DataError
        If the degree reaches the number of distinct values of the column (orthogonal
        polynomials of that degree do not exist, as R's ``poly`` says).
    """
    for term in terms:
        for column, text in _poly_calls(term):
            try:
                degree = float(text)
            except ValueError:
                continue  # not a literal; formulae reports it
            if not degree.is_integer() or degree < 1:
                raise SpecError(f"term {term!r}: poly degree {text} must be a positive integer")
            if column not in data.columns:
                continue  # the column check names it
            distinct = int(data[column].nunique())
            if degree > distinct - 1:
                raise DataError(
                    f"term {term!r}: poly degree {text} must be at most the number of "
                    f"distinct values of {column!r} minus one ({distinct - 1}); lower the degree"
                )
