"""Encode validated data into a :class:`~hierlmm.design.design.Design`.

The fixed part goes through formulae (so ``C(g)``, ``log(x)``, ``poly(x, 2)`` and
``I(x**2)`` behave as in bambi); each grouping factor is stored compactly as integer
codes (n,) plus its own slope columns Z (n, q). formulae's group-specific matrices are
never used: they are dense n x (levels * q). formulae's fitted objects are kept as
:class:`~hierlmm.design.encoders.Encoders` to encode new rows the same way. An AR(1) or
CAR(1) residual gets its series, times and row order
(:class:`~hierlmm.design.residual.ResidualDesign`).
"""

from __future__ import annotations

import formulae
import numpy as np
import pandas as pd
from formulae.environment import Environment
from formulae.parser import ParseError
from formulae.resolver import ResolverError
from formulae.scanner import ScanError

from hierlmm.design import glm, validate
from hierlmm.design.design import Design, GroupDesign
from hierlmm.design.encoders import Encoders, TermEncoder
from hierlmm.design.numeric import check_poly_degrees, integers_as_floats
from hierlmm.design.residual import ResidualDesign, series_design
from hierlmm.errors import DataError, SpecError
from hierlmm.spec.schema import GroupSpec, ModelSpec
from hierlmm.spec.transforms import display_term, namespace


def build_design(spec: ModelSpec, data: pd.DataFrame, *, na_action: str = "raise") -> Design:
    """Validate ``data`` against ``spec`` and encode it.

    Parameters
    ----------
    spec : ModelSpec
    data : pandas.DataFrame, shape (n_in, k)
        Raw data holding every column the spec names.
    na_action : {"raise", "drop"}
        What to do with rows holding NaN, None or inf in a used column.

    Returns
    -------
    Design
        ``y`` (n,), ``X`` (n, p), one :class:`GroupDesign` per grouping factor with
        ``codes`` (n,) and ``Z`` (n, q), the kept raw columns, ``n_dropped``, the
        residual design and the fitted encoders.

    Raises
    ------
    DataError
        If the data do not fit the spec (missing or non-numeric columns, missing values
        with ``na_action="raise"``, constant response, single-level factor, rank-deficient
        fixed effects, a residual group that is neither a column nor a factor, bad or
        repeated residual times).
    SpecError
        If ``na_action`` or a term is invalid.
    """
    na_action = validate.check_na_action(na_action)
    data = validate.check_frame(data)
    data, event_label = glm.code_binary(data, spec)
    validate.check_response_not_reused(spec)
    columns = validate.used_columns(spec)
    validate.check_residual_group(data, spec)
    validate.check_columns(data, columns)
    validate.check_response_dtype(data, spec)
    validate.check_slope_dtypes(data, spec)
    validate.check_residual_time_dtype(data, spec)
    kept, n_dropped = validate.handle_missing(data, list(columns), na_action)
    check_poly_degrees(spec.fixed + tuple(t for g in spec.groups for t in g.slopes), kept)

    y, X, fixed_names, fixed_encoder = encode_fixed(spec, kept)
    validate.check_response_values(y, spec.response)
    glm.check_glm_response(y, spec)
    trials, offset = encode_glm_columns(spec, kept, y)
    validate.check_finite(X, fixed_names, "fixed-effect column")
    validate.check_full_rank(X, fixed_names)
    encoded = [encode_group(g, kept) for g in spec.groups]
    groups = tuple(group for group, _ in encoded)
    return Design(
        y=y,
        X=X,
        fixed_names=fixed_names,
        groups=groups,
        response=display_term(spec.response),
        data=kept,
        n_dropped=n_dropped,
        residual=encode_residual(spec, kept, groups),
        encoders=Encoders(
            fixed=fixed_encoder, slopes={group.factor: slopes for group, slopes in encoded}
        ),
        trials=trials,
        offset=offset,
        event_label=event_label,
    )


def term_values(term: str, data: pd.DataFrame, what: str) -> np.ndarray:
    """Evaluate one term (a column or allowed transform) to a finite column, shape (n,).

    Raises
    ------
    DataError
        If the term gives several columns or non-finite values (named as ``what``).
    """
    dm = design_matrices(f"0 + {term}", data)
    values = np.asarray(dm.common.design_matrix, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] != 1:
        raise DataError(f"{what} {term!r} evaluates to {values.shape[1]} columns; give one column")
    column = values.reshape(-1)
    validate.check_finite(column, (term,), what)
    return column


def encode_glm_columns(
    spec: ModelSpec, data: pd.DataFrame, y: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Binomial trials and the offset of ``spec`` on ``data``, each (n,) or None, checked."""
    trials = offset = None
    if spec.trials is not None:
        trials = term_values(spec.trials, data, "trials")
        glm.check_trials(y, trials, spec)
    if spec.offset is not None:
        glm.check_offset_columns(data, spec)
        offset = term_values(spec.offset, data, "offset")
    return trials, offset


def design_matrices(formula: str, data: pd.DataFrame) -> formulae.matrices.DesignMatrices:
    """Evaluate ``formula`` on ``data`` with formulae, seeing only hierlmm's transforms.

    The evaluation environment is empty apart from
    :func:`hierlmm.spec.transforms.namespace` (and formulae's own ``C``, ``I``,
    ``center``, ``scale``, ``standardize``, ``poly``), so no caller variable can leak into a
    term. Floating-point warnings (``log(0)``) are silenced here; the caller checks the
    result for NaN/inf and raises a :class:`DataError` naming the term.

    Parameters
    ----------
    formula : str
        A formulae formula, e.g. ``"y ~ 1 + Days"`` or ``"0 + log(x)"``.
    data : pandas.DataFrame, shape (n, k)
        Rows without missing values in the columns the formula reads.

    Raises
    ------
    SpecError
        If formulae cannot parse the formula.
    DataError
        If a term cannot be evaluated on the data (e.g. ``log`` of a string column).
    """
    env = Environment([{}])
    data = integers_as_floats(data, formula)
    try:
        with np.errstate(all="ignore"):
            return formulae.design_matrices(
                formula, data, na_action="pass", env=env, extra_namespace=namespace()
            )
    except (ParseError, ScanError, ResolverError) as exc:
        raise SpecError(
            f"formulae cannot parse {formula!r} ({exc}); write the terms in formulae syntax, "
            "e.g. 'log(x)', 'C(g)', 'a:b'"
        ) from exc
    except (TypeError, ValueError, KeyError) as exc:
        raise DataError(
            f"formulae cannot evaluate {formula!r} on the data ({type(exc).__name__}: {exc}); "
            "check that each transform suits its column's dtype (e.g. log of a numeric "
            "column, C() of a categorical one)"
        ) from exc


def encode_fixed(
    spec: ModelSpec, data: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], TermEncoder]:
    """Encode the response and the fixed-effects matrix.

    Parameters
    ----------
    spec : ModelSpec
    data : pandas.DataFrame, shape (n, k)

    Returns
    -------
    y : ndarray of float64, shape (n,)
    X : ndarray of float64, shape (n, p)
    fixed_names : tuple of str, length p
        formulae's column names, e.g. ``("Intercept", "Days", "C(g)[b]")``.
    encoder : TermEncoder
        formulae's fitted right-hand side, to encode new rows the same way.
    """
    n = data.shape[0]
    dm = design_matrices(spec.fixed_formula, data)
    y = np.asarray(dm.response.design_matrix, dtype=np.float64).reshape(n)
    encoder = TermEncoder(spec.fixed_formula, dm.common)
    if dm.common is None:
        return y, np.empty((n, 0), dtype=np.float64), (), encoder
    X = np.ascontiguousarray(dm.common.design_matrix, dtype=np.float64).reshape(n, -1)
    names = tuple(str(label) for term in dm.common.terms.values() for label in term.labels)
    return y, X, names, encoder


def encode_group(
    group: GroupSpec, data: pd.DataFrame
) -> tuple[GroupDesign, tuple[TermEncoder, ...]]:
    """Encode one grouping factor compactly.

    Parameters
    ----------
    group : GroupSpec
    data : pandas.DataFrame, shape (n, k)

    Returns
    -------
    GroupDesign
        ``codes`` int64 (n,), ``Z`` float64 (n, q) with a column of ones first when the
        factor has a random intercept, ``levels`` as strings in code order.
    slope_encoders : tuple of TermEncoder
        One fitted encoding per slope, in ``group.slopes`` order.
    """
    codes, levels = factor_codes(data, group.columns)
    validate.check_levels(group.factor, levels)
    n = data.shape[0]
    slopes = [slope_column(term, group.factor, data) for term in group.slopes]
    cols = ([np.ones(n)] if group.intercept else []) + [column for column, _ in slopes]
    Z = np.column_stack(cols).astype(np.float64, copy=False)
    design = GroupDesign(
        factor=group.factor,
        codes=codes,
        Z=Z,
        terms=tuple(display_term(t) for t in group.terms),
        levels=levels,
        correlated=group.correlated,
    )
    return design, tuple(encoder for _, encoder in slopes)


def encode_residual(
    spec: ModelSpec, data: pd.DataFrame, groups: tuple[GroupDesign, ...]
) -> ResidualDesign:
    """Encode the spec's residual structure: series, times and row order.

    Parameters
    ----------
    spec : ModelSpec
    data : pandas.DataFrame, shape (n, k)
        The kept rows; the residual time and group columns hold no missing values.
    groups : tuple of GroupDesign
        The encoded factors. A residual ``group`` naming one of them (or no ``group``:
        the first factor) takes that factor's level codes as series; a plain column is
        coded with :func:`factor_codes`.

    Returns
    -------
    ResidualDesign
        :meth:`ResidualDesign.iid` for independent residuals.
    """
    residual = spec.residual
    if residual.kind == "iid":
        return ResidualDesign.iid()
    group = groups[0].factor if residual.group is None else residual.group
    factors = {g.factor: g for g in groups}
    if group in factors:
        series, levels = factors[group].codes, factors[group].levels
    else:
        series, levels = factor_codes(data, (group,))
    return series_design(
        kind=residual.kind,
        group=group,
        time_column=residual.time,
        series=series,
        series_levels=levels,
        time=data[residual.time].to_numpy(dtype=np.float64),
        gaps=residual.gaps,
    )


def factor_codes(
    data: pd.DataFrame, columns: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer level codes of one column or of the combination of several.

    Levels are sorted: by value on each column's own dtype (so integer ids sort
    numerically, categoricals by category order), and lexicographically across columns
    for an interaction, whose labels join the columns' values with ``":"``.

    Parameters
    ----------
    data : pandas.DataFrame, shape (n, k)
    columns : tuple of str
        One column, or several for ``"a:b"``.

    Returns
    -------
    codes : ndarray of int64, shape (n,)
        Level index of each row, in ``[0, n_levels)``.
    levels : tuple of str, length n_levels

    Raises
    ------
    DataError
        If two different values of a column print alike (the int 308 and the str "308").
    """
    parts = [pd.factorize(data[c], sort=True) for c in columns]
    for column, (_, uniques) in zip(columns, parts, strict=True):
        validate.check_distinct_labels(column, uniques)
    if len(parts) == 1:
        codes, uniques = parts[0]
        return codes.astype(np.int64), tuple(str(u) for u in uniques)
    stacked = np.column_stack([codes for codes, _ in parts])  # (n, n_columns)
    combos, inverse = np.unique(stacked, axis=0, return_inverse=True)
    labels = tuple(
        ":".join(str(uniques[k]) for k, (_, uniques) in zip(row, parts, strict=True))
        for row in combos
    )
    return inverse.reshape(-1).astype(np.int64), labels


def slope_column(term: str, factor: str, data: pd.DataFrame) -> tuple[np.ndarray, TermEncoder]:
    """Evaluate one random-slope term to a single numeric column.

    Parameters
    ----------
    term : str
        A column name or allowed transform, e.g. ``"Days"`` or ``"log(dose)"``.
    factor : str
        The grouping factor, for messages.
    data : pandas.DataFrame, shape (n, k)

    Returns
    -------
    column : ndarray of float64, shape (n,)
    encoder : TermEncoder
        formulae's fitted encoding of ``"0 + term"``, to encode new rows the same way.
    """
    formula = f"0 + {term}"
    dm = design_matrices(formula, data)
    values = np.asarray(dm.common.design_matrix, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] != 1:
        raise DataError(
            f"random slope {term!r} of grouping factor {factor!r} evaluates to "
            f"{values.shape[1]} columns; a slope must be one numeric column: dummy-code "
            "a categorical term and give each 0/1 column as its own slope"
        )
    column = values.reshape(-1)
    validate.check_finite(column, (term,), f"random slope of {factor!r}:")
    return column, TermEncoder(formula, dm.common)
