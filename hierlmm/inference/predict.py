"""Predictions for new data from posterior draws (numpy).

New rows are encoded with the *training* encodings: the fixed part and each random slope
are re-evaluated through formulae's ``evaluate_new_data`` on design matrices rebuilt from
``fit.design.data``, so centring, scaling, ``poly`` bases and categorical codings match
the fitted model. Grouping levels are matched by their labels (as in
:func:`hierlmm.design.encode.factor_codes`).

Unseen levels (or a grouping column absent from ``new_data``, which means "a new level")
are handled by ``new_groups``:

``"population"``
    ``b = 0``: the population-average (marginal) mean of a Gaussian LMM.
``"sample"``
    ``b ~ N(0, Sigma)`` drawn afresh for each posterior draw and each unseen level,
    Sigma being that draw's random-effect covariance (Gelman & Hill 2007, ch. 12.8).
``"error"``
    raise :class:`~hierlmm.errors.DataError` naming the unseen levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from hierlmm.design import validate
from hierlmm.design.design import GroupDesign
from hierlmm.design.encode import design_matrices
from hierlmm.errors import DataError
from hierlmm.families import get_family
from hierlmm.inference.joint import joint_posterior
from hierlmm.inference.result import Fit
from hierlmm.model import names
from hierlmm.model.covariance import factor_covariance_root
from hierlmm.model.linear_predictor import linear_predictor
from hierlmm.options import check_option

NewGroups = Literal["population", "sample", "error"]
PredictKind = Literal["mean", "predictive"]


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


def _check_frame(new_data: object) -> pd.DataFrame:
    if not isinstance(new_data, pd.DataFrame):
        raise DataError(f"new_data must be a pandas DataFrame, got {type(new_data).__name__}")
    if new_data.shape[0] == 0:
        raise DataError("new_data has no rows; give at least one row to predict")
    return new_data


def _evaluate_new(formula: str, train: pd.DataFrame, new_data: pd.DataFrame) -> np.ndarray:
    """Evaluate the non-response part of ``formula`` on ``new_data``, training encodings.

    Returns
    -------
    ndarray of float64, shape (m, k)
    """
    dm = design_matrices(formula, train)
    m = new_data.shape[0]
    if dm.common is None:
        return np.empty((m, 0), dtype=np.float64)
    try:
        with np.errstate(all="ignore"):
            values = dm.common.evaluate_new_data(new_data).design_matrix
    except (TypeError, ValueError, KeyError) as exc:
        raise DataError(
            f"cannot evaluate {formula!r} on new_data ({type(exc).__name__}: {exc}); "
            "give every column the model uses, with the training dtypes and only "
            "categorical levels seen in fitting"
        ) from exc
    return np.asarray(values, dtype=np.float64).reshape(m, -1)


def _required_columns(fit: Fit) -> dict[str, str]:
    """Columns new data must hold: every used column but the response and grouping columns."""
    skip = set(validate.term_variables(fit.spec.response))
    skip |= {c for g in fit.spec.groups for c in g.columns}
    return {c: role for c, role in validate.used_columns(fit.spec).items() if c not in skip}


def new_fixed_matrix(fit: Fit, new_data: pd.DataFrame) -> np.ndarray:
    """Fixed-effects design matrix of ``new_data`` with the training encodings.

    Parameters
    ----------
    fit : Fit
    new_data : pandas.DataFrame, shape (m, k)

    Returns
    -------
    ndarray of float64, shape (m, p)
        Columns in the order of ``fit.design.fixed_names``.
    """
    new_data = _check_frame(new_data)
    validate.check_columns(new_data, _required_columns(fit))
    X = _evaluate_new(fit.spec.fixed_formula, fit.design.data, new_data)
    if X.shape[1] != fit.design.p:
        raise DataError(
            f"new_data encodes to {X.shape[1]} fixed-effect columns, the fit has "
            f"{fit.design.p} ({', '.join(fit.design.fixed_names)}); check categorical columns"
        )
    validate.check_finite(X, fit.design.fixed_names, "fixed-effect column (new_data)")
    return X


def _labels(
    frame: pd.DataFrame, train: pd.DataFrame, columns: tuple[str, ...], factor: str
) -> np.ndarray:
    """Level label of each row, built as in :func:`~hierlmm.design.encode.factor_codes`.

    A numeric column is first cast to its training dtype, so ``1`` matches a fitted
    level ``1.0``.
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


def new_group_design(fit: Fit, group: GroupDesign, new_data: pd.DataFrame) -> NewGroupDesign:
    """Encode one grouping factor on new rows.

    A grouping column absent from ``new_data`` makes every row one new level of the factor
    (labelled ``"<new FACTOR>"``).

    Parameters
    ----------
    fit : Fit
    group : GroupDesign
        The fitted factor.
    new_data : pandas.DataFrame, shape (m, k)

    Returns
    -------
    NewGroupDesign
    """
    spec = fit.spec.group(group.factor)
    m = new_data.shape[0]
    if all(c in new_data.columns for c in spec.columns):
        labels = _labels(new_data, fit.design.data, spec.columns, group.factor)
    else:
        labels = np.full(m, f"<new {group.factor}>", dtype=object)
    known = {label: i for i, label in enumerate(group.levels)}
    unseen = tuple(sorted({label for label in labels if label not in known}))
    lookup = known | {label: group.n_levels + k for k, label in enumerate(unseen)}
    codes = np.fromiter((lookup[label] for label in labels), dtype=np.int64, count=m)
    columns = [np.ones(m)] if spec.intercept else []
    columns += [
        _evaluate_new(f"0 + {term}", fit.design.data, new_data).reshape(-1) for term in spec.slopes
    ]
    Z = np.column_stack(columns).astype(np.float64, copy=False)  # (m, q)
    validate.check_finite(Z, group.terms, f"random-effect column of {group.factor!r} (new_data)")
    return NewGroupDesign(group.factor, codes, Z, group.n_levels, unseen)


def sample_new_effects(
    posterior: xr.Dataset, group: GroupDesign, n_new: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw effects of ``n_new`` unseen levels, ``b ~ N(0, Sigma)`` per posterior draw.

    Returns
    -------
    ndarray, shape (chain, draw, n_new, q)
    """
    L = factor_covariance_root(posterior, group)  # (C, D, q, q)
    C, D, q, _ = L.shape
    z = rng.standard_normal((C, D, n_new, q))
    return np.einsum("cduk,cdqk->cduq", z, L)


def _effects(
    posterior: xr.Dataset,
    group: GroupDesign,
    new: NewGroupDesign,
    new_groups: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """Fitted effects followed by those of the unseen levels, shape (C, D, L + U, q)."""
    b = posterior[names.effects(new.factor)].values  # (C, D, L, q)
    if not new.unseen:
        return b
    if new_groups == "error":
        shown = ", ".join(map(repr, new.unseen[:10]))
        more = f", ... ({len(new.unseen)} in all)" if len(new.unseen) > 10 else ""
        raise DataError(
            f"new_data has level(s) of {new.factor!r} not seen in fitting: {shown}{more}; "
            'pass new_groups="population" (effects 0) or "sample" (effects drawn from the '
            "fitted distribution)"
        )
    if new_groups == "population":
        extra = np.zeros(b.shape[:2] + (len(new.unseen), b.shape[3]))
    else:
        extra = sample_new_effects(posterior, group, len(new.unseen), rng)
    return np.concatenate([b, extra], axis=2)


def predict(
    fit: Fit,
    new_data: pd.DataFrame,
    *,
    new_groups: NewGroups = "population",
    kind: PredictKind = "mean",
    seed: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Posterior draws of the mean (or of new observations) at new rows.

    Parameters
    ----------
    fit : Fit
    new_data : pandas.DataFrame, shape (m, k)
        Every column the model uses except the response. Grouping columns may be left
        out: each such factor then counts as one new level for all rows.
    new_groups : {"population", "sample", "error"}
        Treatment of unseen levels (see the module docstring).
    kind : {"mean", "predictive"}
        ``"mean"``: the family's mean at ``eta = X beta + sum_k Z_k b_k`` (``eta`` itself
        for the Gaussian family); ``"predictive"``: one new observation per draw and row
        from the family (Gaussian: ``eta + N(0, sigma^2)``).
    seed : int or numpy.random.Generator, optional
        Seeds the draws of ``"sample"`` and ``"predictive"``; defaults to ``fit.seed``.

    Returns
    -------
    ndarray of float64, shape (chain, draw, m)
        On the model's response scale (e.g. ``log(y)`` for a ``log(y)`` response).

    Raises
    ------
    DataError
        If a needed column is missing, values are missing or not encodable, or
        ``new_groups="error"`` meets an unseen level.
    """
    check_option("new_groups", new_groups, NewGroups)
    check_option("kind", kind, PredictKind)
    rng = np.random.default_rng(fit.seed if seed is None else seed)
    X = new_fixed_matrix(fit, new_data)  # (m, p)
    posterior = joint_posterior(fit.idata)
    groups = []
    for group in fit.design.groups:
        new = new_group_design(fit, group, new_data)
        b = _effects(posterior, group, new, new_groups, rng)  # (C, D, L + U, q)
        groups.append((b, new.codes, new.Z))
    eta = linear_predictor(posterior[names.BETA].values, X, groups)  # (C, D, m)
    family = get_family(fit.spec.family)
    if kind == "predictive":
        return family.predictive_draws(eta, family.param_draws(posterior), rng)
    return family.inverse_link(eta)
