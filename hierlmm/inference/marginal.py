"""Population-average (marginal) against subject-specific (conditional) effects of a GLMM.

A GLMM's fixed effects are **subject-specific**: they act on one subject's mean with
its random effects held fixed. A policy question asks for the **population-average**
effect: the mean response of the whole population, obtained by integrating the
subject's random effects over ``N(0, Sigma)`` (:mod:`hierlmm.report.marginal_integrals`).
On the logit scale the population-average effect is smaller in magnitude ("attenuated");
for a log link with random intercepts only, ratios are not attenuated.

**A "new subject"** draws new levels of *every* grouping factor, crossed or nested,
independently from their fitted distributions ``b_k ~ N(0, Sigma_k)``; so the
population is the one the whole random-effects structure describes.

Every quantity is computed per posterior draw (the parameters' uncertainty carries into
the intervals, including that of ``Sigma``) and then summarised: posterior mean, SD and
the central interval of mass ``prob``.

- :func:`marginal_effects`: mean response at covariate rows and contrasts between two
  values of one covariate (risk difference, risk ratio, odds ratio; for counts rate
  difference and rate ratio), population-average and subject-specific (``b = 0``) side
  by side, and the attenuation factor ``log OR_PA / log OR_SS`` (``log RR`` for counts).
- :func:`marginal_coefficients`: link-scale coefficients of the population-average mean,
  in the sense of GLMMadaptive's ``marginal_coefs`` (Hedeker et al. 2018): per draw,
  the least-squares fit of ``g(mu_PA(x_i)) - offset_i`` on the fixed design ``X`` at the
  fitted rows.

References
----------
Hedeker, D., du Toit, S. H. C., Demirtas, H. and Gibbons, R. D. (2018). A note on
marginalization of regression parameters from mixed models of binary outcomes.
*Biometrics* 74(1), 354-361. Liu, Q. and Pierce, D. A. (1994). A note on Gauss-Hermite
quadrature. *Biometrika* 81(3), 624-629.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hierlmm.errors import SpecError
from hierlmm.families.links import inverse_link, link
from hierlmm.inference.joint import joint_posterior
from hierlmm.inference.predict import new_fixed_matrix, new_group_design, new_term_values
from hierlmm.model import names
from hierlmm.model.covariance import factor_covariance_root
from hierlmm.model.marginal_integrals import DEFAULT_NODES, effect_variance, population_mean

if TYPE_CHECKING:
    from hierlmm.inference.result import Fit

PA, SS, RATIO = "population-average", "subject-specific", "attenuation (PA / SS)"
BINARY_LINKS = ("logit", "probit")


def _flat(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    return values.reshape((-1,) + values.shape[2:])[index]


def draw_index(fit: Fit, max_draws: int | None, seed: int | None) -> np.ndarray:
    """Flattened (chain * draw) indices: all draws, or ``max_draws`` evenly spaced ones."""
    total = fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]
    if max_draws is None or max_draws >= total:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, max_draws).round().astype(np.int64))


def reference_row(fit: Fit) -> pd.DataFrame:
    """One row: numeric columns at their mean, other columns at their most frequent value.

    The response and the grouping columns are left out (a new subject has new levels).
    """
    data = fit.design.data
    skip = {fit.spec.response} | {c for g in fit.spec.groups for c in g.columns}
    row = {}
    for column in data.columns:
        if column in skip:
            continue
        series = data[column]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        row[column] = [series.mean() if numeric else series.mode().iloc[0]]
    return pd.DataFrame(row)


def linear_parts(
    fit: Fit, rows: pd.DataFrame, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed part (with offset) and random-effect variance at new rows, per draw.

    Returns
    -------
    eta : ndarray, shape (S, m)
        ``x' beta`` (+ offset).
    variance : ndarray, shape (S, m)
        ``v = sum_k z_k' Sigma_k z_k``.
    """
    posterior = joint_posterior(fit.idata)
    X = new_fixed_matrix(fit, rows)  # (m, p)
    eta = _flat(posterior[names.BETA].values, index) @ X.T  # (S, m)
    if fit.spec.offset is not None:
        eta += new_term_values(fit.spec.offset, rows, "offset")
    Z_rows = [new_group_design(fit, g, rows).Z for g in fit.design.groups]
    roots = [_flat(factor_covariance_root(posterior, g), index) for g in fit.design.groups]
    variance = effect_variance(Z_rows, roots) if roots else np.zeros_like(eta)
    return eta, variance


def _summary(values: np.ndarray, prob: float) -> dict[str, np.ndarray]:
    """Mean, SD and central interval over draws (axis 0) of ``values`` (S, ...)."""
    tail = (1.0 - prob) / 2.0
    return {
        "estimate": values.mean(axis=0),
        "sd": values.std(axis=0, ddof=1) if values.shape[0] > 1 else np.zeros(values.shape[1:]),
        "lower": np.quantile(values, tail, axis=0),
        "upper": np.quantile(values, 1.0 - tail, axis=0),
    }


def _contrast_draws(mu0: np.ndarray, mu1: np.ndarray, link_name: str) -> dict[str, np.ndarray]:
    """Contrasts of two mean responses (S, m) by name."""
    if link_name in BINARY_LINKS:
        return {
            "risk difference": mu1 - mu0,
            "risk ratio": mu1 / mu0,
            "odds ratio": (mu1 / (1.0 - mu1)) / (mu0 / (1.0 - mu0)),
        }
    if link_name == "log":
        return {"rate difference": mu1 - mu0, "rate ratio": mu1 / mu0}
    return {"difference": mu1 - mu0}


def _attenuation(pa: dict, ss: dict, link_name: str) -> np.ndarray | None:
    key = {"logit": "odds ratio", "probit": "odds ratio", "log": "rate ratio"}.get(link_name)
    if key is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(pa[key]) / np.log(ss[key])


def _expand(at: pd.DataFrame, contrast: dict | None) -> tuple[pd.DataFrame, str | None, tuple]:
    if contrast is None:
        return at, None, ()
    if not isinstance(contrast, dict) or len(contrast) != 1:
        raise SpecError(
            "contrast must name one column and two values, e.g. contrast={'treat': (0, 1)}"
        )
    (column, values), = contrast.items()
    if len(tuple(values)) != 2:
        raise SpecError(f"contrast for {column!r} needs exactly two values, got {values!r}")
    low, high = tuple(values)
    rows = pd.concat([at.assign(**{column: low}), at.assign(**{column: high})], ignore_index=True)
    return rows, column, (low, high)


def _as_frame(fit: Fit, at) -> pd.DataFrame:
    reference = reference_row(fit)
    if at is None:
        return reference
    frame = pd.DataFrame(at) if not isinstance(at, pd.DataFrame) else at.reset_index(drop=True)
    for column in reference.columns:
        if column not in frame.columns:
            frame[column] = reference[column].iloc[0]
    return frame


def marginal_effect_draws(
    fit: Fit,
    at=None,
    contrast: dict | None = None,
    *,
    max_draws: int | None = 1000,
    nodes: int = DEFAULT_NODES,
) -> pd.DataFrame:
    """Per-draw population-average and subject-specific quantities, a tidy long table.

    Parameters are as for :func:`marginal_effects`.

    Returns
    -------
    pandas.DataFrame
        Columns ``row`` (index in ``at``), ``quantity`` (``"mean"``, ``"mean at
        <column>=<value>"``, a contrast name or ``"attenuation"``), ``effect``
        (``"population-average"``, ``"subject-specific"`` or the attenuation ratio),
        ``draw`` (flattened chain * draw index) and ``value``.
    """
    link_name = fit.spec.link_name
    at_frame = _as_frame(fit, at)
    rows, column, values = _expand(at_frame, contrast)
    index = draw_index(fit, max_draws, None)
    eta, variance = linear_parts(fit, rows, index)  # (S, M)
    pa = population_mean(link_name, eta, variance, nodes)
    ss = inverse_link(link_name, eta)
    m = at_frame.shape[0]
    parts: list[tuple[str, str, np.ndarray]] = []
    if column is None:
        parts += [("mean", PA, pa), ("mean", SS, ss)]
    else:
        for k, value in enumerate(values):
            label = f"mean at {column}={value}"
            arm = slice(k * m, (k + 1) * m)
            parts += [(label, PA, pa[:, arm]), (label, SS, ss[:, arm])]
        c_pa = _contrast_draws(pa[:, :m], pa[:, m:], link_name)
        c_ss = _contrast_draws(ss[:, :m], ss[:, m:], link_name)
        for name in c_pa:
            parts += [(name, PA, c_pa[name]), (name, SS, c_ss[name])]
        ratio = _attenuation(c_pa, c_ss, link_name)
        if ratio is not None:
            parts.append(("attenuation", RATIO, ratio))
    frames = [
        pd.DataFrame({
            "row": np.tile(np.arange(m), len(index)), "quantity": quantity, "effect": effect,
            "draw": np.repeat(index, m), "value": draws.reshape(-1),
        })
        for quantity, effect, draws in parts
    ]
    return pd.concat(frames, ignore_index=True)


def marginal_effects(
    fit: Fit,
    at=None,
    contrast: dict | None = None,
    *,
    prob: float = 0.9,
    max_draws: int | None = 1000,
    nodes: int = DEFAULT_NODES,
) -> pd.DataFrame:
    """Population-average and subject-specific mean responses and contrasts, summarised.

    Parameters
    ----------
    fit : Fit
    at : pandas.DataFrame or dict of lists, optional
        Covariate rows (columns of the fixed part, slopes and any offset/exposure; the
        grouping columns are not needed: a new subject draws new levels of every
        factor). Missing columns take the reference value: the mean of a numeric
        column, the most frequent value otherwise. Default: one reference row.
    contrast : dict, optional
        ``{column: (a, b)}``: contrasts of the mean at ``column = b`` against ``a`` at
        every row of ``at``.
    prob : float
        Mass of the central interval.
    max_draws : int or None
        Evenly spaced posterior draws used (all when None).
    nodes : int
        Adaptive Gauss-Hermite nodes (logit link).

    Returns
    -------
    pandas.DataFrame
        One row per (``row`` of ``at``, ``quantity``, ``effect``) with the ``at`` columns
        and ``estimate``, ``sd``, ``lower``, ``upper``. ``effect`` is
        ``"population-average"``, ``"subject-specific"`` (random effects 0) or, for
        ``quantity="attenuation"``, the ratio ``log OR_PA / log OR_SS`` (``log RR``).
        Per-draw values: :func:`marginal_effect_draws`.

    Examples
    --------
    >>> table = marginal_effects(fit, at={"Days": [0.0, 9.0]}, max_draws=20)
    >>> table[["row", "quantity", "effect"]].drop_duplicates().shape  # 2 rows x (PA, SS)
    (4, 3)
    >>> pa = table[table.effect == "population-average"]["estimate"].to_numpy()
    >>> ss = table[table.effect == "subject-specific"]["estimate"].to_numpy()
    >>> bool(np.allclose(pa, ss))  # identity link: the two coincide
    True
    """
    draws = marginal_effect_draws(fit, at, contrast, max_draws=max_draws, nodes=nodes)
    at_frame = _as_frame(fit, at).reset_index(drop=True)
    rows = []
    for (row, quantity, effect), group in draws.groupby(["row", "quantity", "effect"],
                                                        sort=False):
        stats = _summary(group["value"].to_numpy()[:, None], prob)
        rows.append({"row": row, "quantity": quantity, "effect": effect,
                     **{k: float(v[0]) for k, v in stats.items()}})
    table = pd.DataFrame(rows)
    keep = [c for c in at_frame.columns if c not in (contrast or {})]
    return table.merge(at_frame[keep], left_on="row", right_index=True).sort_values(
        ["row"], kind="stable"
    ).reset_index(drop=True)


def _distinct_rows(design) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    """The distinct rows of the fixed design, the effect columns and the offset.

    ``mu_PA`` depends on a row only through them, and designs of visits x arms repeat
    a few rows many times (1,800 rows, 12 distinct: the integrals cost 150x less).

    Returns
    -------
    X : ndarray, shape (u, p)
    Z : list of ndarray, each (u, q_k)
    offset : ndarray, shape (u,) (zeros without an offset)
    rows : ndarray of int, shape (n,)
        Index of each fitted row among the distinct ones.
    """
    n = design.X.shape[0]
    offset = design.offset if design.offset is not None else np.zeros(n)
    parts = [design.X, *(g.Z for g in design.groups), offset[:, None]]
    _, first, rows = np.unique(np.hstack(parts), axis=0, return_index=True,
                               return_inverse=True)
    return (design.X[first], [g.Z[first] for g in design.groups], offset[first],
            rows.reshape(-1))


def marginal_coefficients(
    fit: Fit, *, prob: float = 0.9, max_draws: int | None = 400, nodes: int = DEFAULT_NODES
) -> pd.DataFrame:
    """Link-scale coefficients of the population-average mean (GLMMadaptive's sense).

    Per draw ``s``: ``mu_PA,i`` at every fitted row ``i`` (integrating all random
    effects), then ``beta_M = argmin || g(mu_PA) - offset - X beta ||^2``.

    Returns
    -------
    pandas.DataFrame
        Index: fixed-effect names; columns ``conditional``, ``conditional_lower``,
        ``conditional_upper``, ``marginal``, ``marginal_lower``, ``marginal_upper`` and
        ``attenuation`` (posterior mean of ``beta_M / beta_C``).

    Examples
    --------
    >>> marginal_coefficients(fit, max_draws=10).columns.tolist()[:4]
    ['conditional', 'conditional_lower', 'conditional_upper', 'marginal']
    """
    design = fit.design
    posterior = joint_posterior(fit.idata)
    index = draw_index(fit, max_draws, None)
    beta = _flat(posterior[names.BETA].values, index)  # (S, p)
    roots = [_flat(factor_covariance_root(posterior, g), index) for g in design.groups]
    pinv = np.linalg.pinv(design.X)  # (p, n)
    X, Z, offset, rows = _distinct_rows(design)
    marginal = np.empty_like(beta)
    for start in range(0, len(index), 50):
        chunk = slice(start, start + 50)
        eta = beta[chunk] @ X.T + offset  # (s, u) at the u distinct rows
        variance = effect_variance(Z, [r[chunk] for r in roots])
        mu = population_mean(fit.spec.link_name, eta, variance, nodes)
        marginal[chunk] = (link(fit.spec.link_name, mu) - offset)[:, rows] @ pinv.T  # n rows
    cond, marg = _summary(beta, prob), _summary(marginal, prob)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (marginal / beta).mean(axis=0)
    return pd.DataFrame({
        "conditional": cond["estimate"], "conditional_lower": cond["lower"],
        "conditional_upper": cond["upper"], "marginal": marg["estimate"],
        "marginal_lower": marg["lower"], "marginal_upper": marg["upper"],
        "attenuation": ratio,
    }, index=pd.Index(design.fixed_names, name="term"))
