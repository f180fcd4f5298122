"""Encode new rows (for predictions) with the encodings fitted on the training rows.

The fixed part and each random slope are evaluated through formulae's fitted objects kept
on the design (:class:`~hierlmm.design.encoders.Encoders`), so centring, scaling, ``poly``
bases and categorical codings match the fitted model, and the training frame is never
encoded again. Grouping levels are matched by their labels (as in
:func:`hierlmm.design.encode.factor_codes`); a level absent from the training rows, or a
grouping column absent from the new rows, becomes an unseen level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hierlmm.design import validate
from hierlmm.design.design import Design, GroupDesign
from hierlmm.design.encode import build_design
from hierlmm.design.encoders import Encoders, TermEncoder
from hierlmm.design.numeric import integers_as_floats
from hierlmm.errors import DataError
from hierlmm.spec.schema import ModelSpec


@dataclass(frozen=True)
class NewGroupDesign:
    """One grouping factor evaluated on new rows.

    Attributes
    ----------
    factor : str
    codes : ndarray of int64, shape (m,)
        Index into ``levels + unseen``: values below ``n_known`` are fitted levels, the
        rest index ``unseen``.
    Z : ndarray of float64, shape (m, q)
        The factor's random-effect columns on the new rows.
    n_known : int
        Number of fitted levels L.
    unseen : tuple of str
        Labels of levels absent from the fitted data, length U.
    """

    factor: str
    codes: np.ndarray
    Z: np.ndarray
    n_known: int
    unseen: tuple[str, ...]


def encoders_for(spec: ModelSpec, design: Design) -> Encoders:
    """The design's fitted encoders; for a design built by hand, fit them on its data."""
    if design.encoders is not None:
        return design.encoders
    return build_design(spec, design.data).encoders


def _check_frame(new_data: object) -> pd.DataFrame:
    if not isinstance(new_data, pd.DataFrame):
        raise DataError(f"new_data must be a pandas DataFrame, got {type(new_data).__name__}")
    if new_data.shape[0] == 0:
        raise DataError("new_data has no rows; give at least one row to predict")
    return new_data


def _evaluate_new(encoder: TermEncoder, new_data: pd.DataFrame) -> np.ndarray:
    """Evaluate a fitted right-hand side on ``new_data`` with the training encodings.

    Returns
    -------
    ndarray of float64, shape (m, k)
    """
    m = new_data.shape[0]
    if encoder.matrix is None:
        return np.empty((m, 0), dtype=np.float64)
    try:
        with np.errstate(all="ignore"):
            frame = integers_as_floats(new_data, encoder.formula)
            values = encoder.matrix.evaluate_new_data(frame).design_matrix
    except (TypeError, ValueError, KeyError) as exc:
        raise DataError(
            f"cannot evaluate {encoder.formula!r} on new_data ({type(exc).__name__}: {exc}); "
            "give every column the model uses, with the training dtypes and only "
            "categorical levels seen in fitting"
        ) from exc
    return np.asarray(values, dtype=np.float64).reshape(m, -1)


def _required_columns(spec: ModelSpec) -> dict[str, str]:
    """Columns new data must hold: every used column but the response and grouping columns."""
    skip = set(validate.term_variables(spec.response))
    skip |= {c for g in spec.groups for c in g.columns}
    return {c: role for c, role in validate.used_columns(spec).items() if c not in skip}


def new_fixed_matrix(spec: ModelSpec, design: Design, new_data: pd.DataFrame) -> np.ndarray:
    """Fixed-effects design matrix of ``new_data`` with the training encodings.

    Parameters
    ----------
    spec : ModelSpec
    design : Design
        The training design (its fitted encoders are used).
    new_data : pandas.DataFrame, shape (m, k)

    Returns
    -------
    ndarray of float64, shape (m, p)
        Columns in the order of ``design.fixed_names``.

    Raises
    ------
    DataError
        If ``new_data`` is not a non-empty DataFrame, lacks a column the fixed part or a
        slope reads, or does not encode to the fitted columns with finite values.
    """
    new_data = _check_frame(new_data)
    validate.check_columns(new_data, _required_columns(spec))
    X = _evaluate_new(encoders_for(spec, design).fixed, new_data)
    if X.shape[1] != design.p:
        raise DataError(
            f"new_data encodes to {X.shape[1]} fixed-effect columns, the fit has "
            f"{design.p} ({', '.join(design.fixed_names)}); check categorical columns"
        )
    validate.check_finite(X, design.fixed_names, "fixed-effect column (new_data)")
    return X


def _labels(
    frame: pd.DataFrame, train: pd.DataFrame, columns: tuple[str, ...], factor: str
) -> np.ndarray:
    """Level label of each row, built as in :func:`~hierlmm.design.encode.factor_codes`.

    A numeric column is first cast to its training dtype, so ``1`` matches a fitted
    level ``1.0``.

    Returns
    -------
    ndarray of object (str), shape (m,)
    """
    parts = []
    for column in columns:
        values = frame[column]
        if validate.is_numeric(values) and validate.is_numeric(train[column]):
            try:
                cast = values.astype(train[column].dtype)
            except (TypeError, ValueError):  # NaN into an integer dtype: reported below
                cast = values
            values = cast if bool((cast == values).all()) else values
        codes, uniques = pd.factorize(values, sort=False)
        if np.any(codes < 0):
            raise DataError(
                f"column {column!r} (grouping factor {factor!r}) has missing values in "
                "new_data; fill them or drop those rows"
            )
        parts.append(np.array([str(u) for u in uniques], dtype=object)[codes])
    if len(parts) == 1:
        return parts[0]
    return np.array([":".join(row) for row in zip(*parts, strict=True)], dtype=object)


def new_group_design(
    spec: ModelSpec, design: Design, group: GroupDesign, new_data: pd.DataFrame
) -> NewGroupDesign:
    """Encode one grouping factor on new rows.

    A grouping column absent from ``new_data`` makes every row one new level of the factor
    (labelled ``"<new FACTOR>"``).

    Parameters
    ----------
    spec : ModelSpec
    design : Design
        The training design (its data give the training dtypes of the grouping columns,
        its fitted encoders the slope encodings).
    group : GroupDesign
        The fitted factor.
    new_data : pandas.DataFrame, shape (m, k)

    Returns
    -------
    NewGroupDesign
    """
    factor = spec.group(group.factor)
    m = new_data.shape[0]
    if all(c in new_data.columns for c in factor.columns):
        labels = _labels(new_data, design.data, factor.columns, group.factor)
    else:
        labels = np.full(m, f"<new {group.factor}>", dtype=object)
    known = {label: i for i, label in enumerate(group.levels)}
    unseen = tuple(sorted({label for label in labels if label not in known}))
    lookup = known | {label: group.n_levels + k for k, label in enumerate(unseen)}
    codes = np.fromiter((lookup[label] for label in labels), dtype=np.int64, count=m)
    columns = [np.ones(m)] if factor.intercept else []
    columns += [
        _evaluate_new(encoder, new_data).reshape(-1)
        for encoder in encoders_for(spec, design).slopes[group.factor]
    ]
    Z = np.column_stack(columns).astype(np.float64, copy=False)  # (m, q)
    validate.check_finite(Z, group.terms, f"random-effect column of {group.factor!r} (new_data)")
    return NewGroupDesign(group.factor, codes, Z, group.n_levels, unseen)
