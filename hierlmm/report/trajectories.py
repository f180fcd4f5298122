"""Fitted trajectories per group along one covariate, with the population-average line.

For each chosen level of a grouping factor and each grid value of ``covariate`` the table
gives the posterior mean of the conditional mean ``x beta + z b_j``, its central credible
interval, and the central interval of a new observation (adding ``N(0, sigma^2)``). The
population rows (``curve = "population"``) use ``b = 0`` for the mean (the
population-average curve of a Gaussian LMM) and ``b ~ N(0, Sigma)`` plus noise for the
predictive interval of a new group.

Other columns are held fixed along the grid: a column that is constant within every
level of the factor (a group-level covariate, or the factor's own columns) takes the
group's value; any other numeric column its mean, any other column (or one used inside
``C()``) its most frequent value. Grouping columns of other factors that vary within a
level are left out, so those factors count as new levels (``b = 0`` in the mean).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hierlmm.design import validate
from hierlmm.design.design import GroupDesign
from hierlmm.errors import DataError, SpecError
from hierlmm.inference.predict import predict
from hierlmm.inference.result import Fit
from hierlmm.report.shrinkage import resolve_factor, rows_by_level

MAX_DEFAULT_GROUPS = 12
MAX_UNIQUE_AS_GRID = 25
GRID_POINTS = 50
TABLE_COLUMNS = (
    "factor", "curve", "group", "covariate", "x", "mean", "lower", "upper",
    "pred_lower", "pred_upper", "prob",
)


def default_grid(values: np.ndarray) -> np.ndarray:
    """Observed values when there are few, else 50 evenly spaced points over their range.

    Parameters
    ----------
    values : ndarray, shape (n,)

    Returns
    -------
    ndarray, shape (k,)
    """
    unique = np.unique(values)
    if unique.size <= MAX_UNIQUE_AS_GRID:
        return unique.astype(np.float64)
    return np.linspace(unique[0], unique[-1], GRID_POINTS)


def check_covariate(fit: Fit, covariate: str) -> np.ndarray:
    """The covariate's fitted values, shape (n,); DataError unless a numeric model column."""
    data = fit.design.data
    response = set(validate.term_variables(fit.spec.response))
    grouping = {c for g in fit.spec.groups for c in g.columns}
    usable = [c for c in data.columns if c not in response | grouping]
    if covariate not in usable:
        raise DataError(
            f"covariate {covariate!r} is not a predictor column of the model; "
            f"choose one of {', '.join(map(repr, usable)) or '(none)'}"
        )
    if not validate.is_numeric(data[covariate]):
        raise DataError(
            f"covariate {covariate!r} has dtype {data[covariate].dtype}; it must be numeric"
        )
    return data[covariate].to_numpy(dtype=np.float64)


def choose_groups(group: GroupDesign, groups: Sequence | None) -> list[int]:
    """Level indices of the chosen groups (the first 12 when ``groups`` is None)."""
    if groups is None:
        return list(range(min(group.n_levels, MAX_DEFAULT_GROUPS)))
    if isinstance(groups, str):
        groups = [groups]
    index = {label: j for j, label in enumerate(group.levels)}
    missing = [g for g in groups if str(g) not in index]
    if missing:
        shown = ", ".join(map(repr, group.levels[:10]))
        raise DataError(
            f"level(s) {missing} are not levels of {group.factor!r}; levels include {shown}"
        )
    return [index[str(g)] for g in groups]


def _categorical_use(fit: Fit, column: str) -> bool:
    """Whether a fixed term wraps ``column`` in ``C()``."""
    return any(
        "C(" in term and column in validate.term_variables(term) for term in fit.spec.fixed
    )


def _typical(fit: Fit, column: str) -> object:
    """Mean of a numeric column, else (or when used in ``C()``) its most frequent value."""
    values = fit.design.data[column]
    if validate.is_numeric(values) and not _categorical_use(fit, column):
        return float(values.mean())
    return values.mode(dropna=True).iloc[0]


def _held_columns(fit: Fit, group: GroupDesign, covariate: str) -> tuple[list[str], list[str]]:
    """Columns held at the group's value and columns held at a typical value."""
    data = fit.design.data
    response = set(validate.term_variables(fit.spec.response))
    grouping = group_columns(fit)
    per_group, typical = [], []
    for column in data.columns:
        if column in response or column == covariate:
            continue
        constant = bool((data[column].groupby(group.codes).nunique(dropna=False) <= 1).all())
        if constant:
            per_group.append(column)
        elif column not in grouping:
            typical.append(column)
    return per_group, typical


def _grid_frame(fit, group, covariate, grid, levels: list[int]) -> pd.DataFrame:
    """New data: one block of ``len(grid)`` rows per chosen level (population if empty)."""
    per_group, typical = _held_columns(fit, group, covariate)
    base = {c: _typical(fit, c) for c in typical}
    if not levels:
        frame = pd.DataFrame({covariate: grid, **base})
        typical_group = {c: _typical(fit, c) for c in per_group if c not in group_columns(fit)}
        return frame.assign(**typical_group)
    first_rows = [rows[0] for rows in rows_by_level(group)]
    template = fit.design.data.iloc[[first_rows[j] for j in levels]][per_group]
    frame = template.loc[template.index.repeat(len(grid))].reset_index(drop=True)
    return frame.assign(**{covariate: np.tile(grid, len(levels))}, **base)


def group_columns(fit: Fit) -> set[str]:
    """Every grouping column of the model."""
    return {c for g in fit.spec.groups for c in g.columns}


def _summarise(mean_draws: np.ndarray, pred_draws: np.ndarray, prob: float) -> dict:
    """Posterior mean and intervals per row; draws (chain, draw, m)."""
    q = [(1 - prob) / 2, (1 + prob) / 2]
    mean_flat = mean_draws.reshape(-1, mean_draws.shape[-1])
    pred_flat = pred_draws.reshape(-1, pred_draws.shape[-1])
    lower, upper = np.quantile(mean_flat, q, axis=0)
    pred_lower, pred_upper = np.quantile(pred_flat, q, axis=0)
    return {"mean": mean_flat.mean(axis=0), "lower": lower, "upper": upper,
            "pred_lower": pred_lower, "pred_upper": pred_upper}


def trajectories(
    fit: Fit,
    covariate: str,
    groups: Sequence | None = None,
    grid: Sequence[float] | np.ndarray | None = None,
    prob: float = 0.9,
    seed: int | np.random.Generator | None = None,
    *,
    factor: str | None = None,
) -> pd.DataFrame:
    """Fitted mean curves with credible and predictive bands, per group and population.

    Parameters
    ----------
    fit : Fit
    covariate : str
        Numeric predictor column along which to trace the curves (e.g. ``"Days"``).
    groups : sequence of level labels, optional
        Levels of ``factor`` to trace; the first 12 when omitted.
    grid : array-like, shape (k,), optional
        Covariate values; see :func:`default_grid` for the default.
    prob : float
        Mass of the central intervals.
    seed : int or numpy.random.Generator, optional
        Seeds the predictive draws; defaults to ``fit.seed``.
    factor : str, optional
        Grouping factor; the first one when omitted.

    Returns
    -------
    pandas.DataFrame, shape ((G + 1) * k, 11)
        Columns ``factor, curve ("group" | "population"), group (level label, None for the
        population), covariate, x, mean, lower, upper, pred_lower, pred_upper, prob``;
        group blocks in the order given, then the population block.
    """
    if not 0 < prob < 1:
        raise SpecError(f"prob={prob!r} must lie strictly between 0 and 1")
    group = resolve_factor(fit, factor)
    values = check_covariate(fit, covariate)
    grid = default_grid(values) if grid is None else np.asarray(grid, dtype=np.float64).reshape(-1)
    levels = choose_groups(group, groups)
    rng = np.random.default_rng(fit.seed if seed is None else seed)
    blocks = []
    for chosen, curve in ((levels, "group"), ([], "population")):
        frame = _grid_frame(fit, group, covariate, grid, chosen)
        mean = predict(fit, frame, new_groups="population", kind="mean")
        pred = predict(fit, frame, new_groups="sample", kind="predictive", seed=rng)
        labels = np.repeat([group.levels[j] for j in chosen], grid.size) if chosen else None
        blocks.append(pd.DataFrame({
            "factor": group.factor, "curve": curve, "group": labels, "covariate": covariate,
            "x": np.tile(grid, max(len(chosen), 1)), **_summarise(mean, pred, prob), "prob": prob,
        }))
    table = pd.concat(blocks, ignore_index=True)
    table["group"] = table["group"].astype(object).where(table["group"].notna(), None)
    return table.loc[:, list(TABLE_COLUMNS)]


def observed_points(
    fit: Fit, covariate: str, groups: Sequence | None = None, *, factor: str | None = None
) -> pd.DataFrame:
    """Observed responses of the chosen groups against ``covariate``.

    Returns
    -------
    pandas.DataFrame, shape (n_chosen, 5)
        Columns ``factor, group, covariate, x, y`` (``y`` on the model's response scale),
        rows in group order as in :func:`trajectories`.
    """
    group = resolve_factor(fit, factor)
    values = check_covariate(fit, covariate)
    levels = choose_groups(group, groups)
    by_level = rows_by_level(group)
    rows = np.concatenate([by_level[j] for j in levels])
    return pd.DataFrame({
        "factor": group.factor,
        "group": np.asarray(group.levels, dtype=object)[group.codes[rows]],
        "covariate": covariate,
        "x": values[rows],
        "y": fit.design.y[rows],
    })
