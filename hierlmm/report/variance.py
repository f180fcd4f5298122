"""Variance components, intraclass correlations, rater reliability and design effects.

Array cores are pure numpy functions on ``(chain, draw[, ...])`` arrays; the table
builders (:func:`variance_components`, :func:`icc`, :func:`rater_icc`) read a
:class:`~hierlmm.inference.result.Fit` through :mod:`hierlmm.model.names` and return tidy
tables. Every interval is the central (equal-tailed) posterior interval of mass ``prob``.

References
----------
Snijders, T. A. B. & Bosker, R. J. (2012). *Multilevel Analysis*, 2nd ed., ch. 3-4
(ICC, nested ICCs, design effect). Shrout, P. E. & Fleiss, J. L. (1979). Intraclass
correlations: uses in assessing rater reliability. *Psychol. Bull.* 86, 420-428.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hierlmm.design.design import Design, GroupDesign
from hierlmm.errors import SpecError
from hierlmm.families import get_family
from hierlmm.inference.summary import draw_stats, quantile_labels
from hierlmm.model.covariance import factor_sd_corr
from hierlmm.report.glmm_variance import latent_residual_draws
from hierlmm.spec.schema import INTERCEPT

# ---------------------------------------------------------------- draws of a fit


def factor_sd_draws(posterior, group: GroupDesign) -> np.ndarray:
    """Random-effect SDs of one factor, shape (chain, draw, q), in ``group.terms`` order."""
    return factor_sd_corr(posterior, group)[0]


def factor_corr_draws(posterior, group: GroupDesign) -> np.ndarray:
    """Correlation matrices of one factor, shape (chain, draw, q, q).

    The identity when the factor's effects are uncorrelated (``||``) or ``q == 1``.
    """
    sd, corr = factor_sd_corr(posterior, group)
    if corr is None:
        return np.broadcast_to(np.eye(group.q), sd.shape[:2] + (group.q, group.q)).copy()
    return corr


def residual_variance_draws(fit) -> np.ndarray:
    """Residual variance on the linear-predictor scale, shape (chain, draw).

    Asked of the response family (``sigma^2`` for the Gaussian family; ``pi^2 / 3`` for
    logit, 1 for probit; the observation-level approximation for counts, see
    :mod:`hierlmm.report.glmm_variance`), so ICCs and variance shares are defined for
    every family.
    """
    return latent_residual_draws(fit)


def infinite_residual_note(sigma2: np.ndarray) -> str | None:
    """The note for draws whose residual variance is infinite (Student-t ``nu <= 2``).

    Convention: such draws are kept (dropping them would condition on ``nu > 2``); in
    them the residual share is 1 and every ICC 0 (the limits as the residual variance
    grows), and the residual variance and SD rows summarise infinite draws. The note
    says how many draws this concerns, so a reader does not take an infinite or 0 value
    at face value.

    Parameters
    ----------
    sigma2 : ndarray, shape (chain, draw)
        From :func:`residual_variance_draws`.

    Returns
    -------
    str or None
        None when every draw is finite.
    """
    infinite = int(np.isinf(sigma2).sum())
    if infinite == 0:
        return None
    return (
        f"{infinite} of {sigma2.size} posterior draws ({infinite / sigma2.size:.0%}) have "
        "nu <= 2, where the residual variance is infinite: in those draws the residual "
        "share is 1 and each ICC 0 (their limits), and the residual variance and SD are "
        "infinite, so their mean is too; the variance decomposition is not a useful "
        "summary of such heavy tails (compare sigma with the random-effect SDs instead)"
    )


def intercept_variance_draws(posterior, design: Design) -> tuple[list[str], np.ndarray]:
    """Random-intercept variances of every factor with an intercept.

    Returns
    -------
    factors : list of str, length k
    tau2 : ndarray, shape (chain, draw, k)
    """
    factors, columns = [], []
    for g in design.groups:
        if INTERCEPT in g.terms:
            factors.append(g.factor)
            columns.append(factor_sd_draws(posterior, g)[..., g.terms.index(INTERCEPT)] ** 2)
    if not columns:
        return factors, np.empty((posterior.sizes["chain"], posterior.sizes["draw"], 0))
    return factors, np.stack(columns, axis=-1)


# ---------------------------------------------------------------- array cores


def icc_from_variances(tau2: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    """ICC of each intercept-only factor: ``tau_k^2 / (sum_j tau_j^2 + sigma^2)``.

    Parameters
    ----------
    tau2 : ndarray, shape (chain, draw, k)
        Random-intercept variances.
    sigma2 : ndarray, shape (chain, draw)
        Residual variance.

    Returns
    -------
    ndarray, shape (chain, draw, k)
    """
    total = tau2.sum(axis=-1) + sigma2  # (chain, draw)
    return tau2 / total[..., None]


def shared_level_correlation(
    tau2: np.ndarray, sigma2: np.ndarray, ancestors: np.ndarray
) -> np.ndarray:
    """Correlation of two observations that share a level of each factor.

    Sharing a level of factor k implies sharing the level of each factor that k is
    nested in (``school:class`` in ``school``), so the shared variance is
    ``tau_k^2 + sum_{j ancestor of k} tau_j^2``.

    Parameters
    ----------
    tau2 : ndarray, shape (chain, draw, k)
    sigma2 : ndarray, shape (chain, draw)
    ancestors : ndarray of bool, shape (k, k)
        ``ancestors[j, i]``: factor k=i is nested in factor j (see :func:`nesting`).

    Returns
    -------
    ndarray, shape (chain, draw, k)
    """
    share = np.eye(tau2.shape[-1], dtype=bool) | ancestors  # (k_j, k_i)
    shared = tau2 @ share.astype(float)  # (chain, draw, k)
    return shared / (tau2.sum(axis=-1) + sigma2)[..., None]


def nesting(codes: list[np.ndarray]) -> np.ndarray:
    """Which factors are nested in which, read from the level codes.

    Factor i is nested in factor j when every level of i lies within a single level of
    j and j has fewer levels (``class`` labels unique across schools count as nested).

    Parameters
    ----------
    codes : list of k int arrays, each shape (n,)

    Returns
    -------
    ndarray of bool, shape (k, k)
        ``out[j, i]`` is True when factor i is nested in factor j.
    """
    k = len(codes)
    out = np.zeros((k, k), dtype=bool)
    n_levels = [int(c.max()) + 1 for c in codes]
    for j in range(k):
        for i in range(k):
            if i == j or n_levels[j] >= n_levels[i]:
                continue
            pairs = np.unique(codes[i] * n_levels[j] + codes[j])
            out[j, i] = pairs.size == np.unique(codes[i]).size
    return out


def design_effect(corr: np.ndarray, cluster_size: float | np.ndarray) -> np.ndarray:
    """Kish design effect ``1 + (m - 1) * rho``.

    Parameters
    ----------
    corr : ndarray, shape (...)
        Within-cluster correlation rho.
    cluster_size : float or ndarray broadcastable to ``corr``
        Mean cluster size m.
    """
    return 1.0 + (np.asarray(cluster_size) - 1.0) * corr


def rater_reliability(
    tau2_subject: np.ndarray, tau2_rater: np.ndarray, sigma2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Consistency and absolute-agreement ICCs of a crossed subjects x raters design.

    Parameters
    ----------
    tau2_subject, tau2_rater, sigma2 : ndarray, shape (chain, draw)

    Returns
    -------
    consistency : ndarray, shape (chain, draw)
        ``tau_s^2 / (tau_s^2 + sigma^2)`` (Shrout-Fleiss ICC(3,1)).
    agreement : ndarray, shape (chain, draw)
        ``tau_s^2 / (tau_s^2 + tau_r^2 + sigma^2)`` (ICC(2,1)).
    """
    return (
        tau2_subject / (tau2_subject + sigma2),
        tau2_subject / (tau2_subject + tau2_rater + sigma2),
    )


# ---------------------------------------------------------------- tables


def stat_columns(prob: float) -> list[str]:
    """Names of the columns :func:`~hierlmm.inference.summary.draw_stats` returns."""
    lo, hi = quantile_labels(prob)
    return ["mean", "median", "sd", lo, hi, "rhat", "ess_bulk"]


def stats_row(
    parameter: str, quantity: str, factor: str | None, term: str | None,
    values: np.ndarray, prob: float,
) -> dict:
    """One table row: labels plus :func:`draw_stats` of ``values`` (chain, draw)."""
    return {
        "parameter": parameter,
        "quantity": quantity,
        "factor": factor,
        "term": term,
        **draw_stats(values, prob),
    }


def tidy_table(rows: list[dict]) -> pd.DataFrame:
    """DataFrame of ``rows`` with missing ``factor``/``term`` as None (not NaN)."""
    table = pd.DataFrame(rows)
    for column in ("factor", "term"):
        if column in table:
            table[column] = table[column].astype(object).where(table[column].notna(), None)
    return table


def check_prob(prob: float) -> float:
    """Return ``prob`` as a float, or raise :class:`SpecError` unless 0 < prob < 1."""
    if isinstance(prob, bool) or not isinstance(prob, int | float) or not 0 < prob < 1:
        raise SpecError(f"prob={prob!r} must be a number strictly between 0 and 1")
    return float(prob)


def variance_components(fit, prob: float = 0.9) -> pd.DataFrame:
    """Random-effect variances and SDs per factor and term, the residual, and shares.

    The share of a random intercept (and of the residual) is its variance over the sum
    of all random-intercept variances plus sigma^2: the variance decomposition at slope
    covariates equal to 0. Slope variances get no share (their contribution depends on
    the covariate; see :func:`hierlmm.report.variance_curve.variance_over_covariate`).

    Parameters
    ----------
    fit : Fit
    prob : float
        Mass of the central posterior interval.

    Returns
    -------
    pandas.DataFrame
        One row per (component, quantity); columns ``parameter`` (``"var(Days|Subject)"``,
        ``"sd(Days|Subject)"``, ``"share(Intercept|Subject)"``, ``"sigma^2"``, ``"sigma"``,
        ``"share(residual)"``), ``quantity`` (``"variance"``, ``"sd"``, ``"share"``),
        ``factor``, ``term`` (None for the residual), ``mean, median, sd, q05, q95, rhat,
        ess_bulk`` and ``note`` (None, or :func:`infinite_residual_note` on the residual
        and share rows when some draws have an infinite residual variance).
    """
    prob = check_prob(prob)
    post = fit.posterior
    sigma2 = residual_variance_draws(fit)
    factors, tau2 = intercept_variance_draws(post, fit.design)
    total = tau2.sum(axis=-1) + sigma2  # (chain, draw)
    infinite = np.isinf(sigma2)  # Student-t draws with nu <= 2
    note = infinite_residual_note(sigma2)
    rows = []
    for g in fit.design.groups:
        sd = factor_sd_draws(post, g)  # (chain, draw, q)
        for j, term in enumerate(g.terms):
            label = f"{term}|{g.factor}"
            var = sd[..., j] ** 2
            rows.append(stats_row(f"var({label})", "variance", g.factor, term, var, prob))
            rows.append(stats_row(f"sd({label})", "sd", g.factor, term, sd[..., j], prob))
            if term == INTERCEPT:
                share = sd[..., j] ** 2 / total  # 0 where total is infinite
                rows.append({**stats_row(f"share({label})", "share", g.factor, term, share,
                                         prob), "note": note})
    var_label, sd_label = get_family(fit.spec.family, fit.spec.link).residual_labels
    residual_share = np.divide(sigma2, total, out=np.ones_like(sigma2), where=~infinite)
    rows.append({**stats_row(var_label, "variance", None, None, sigma2, prob), "note": note})
    rows.append({**stats_row(sd_label, "sd", None, None, np.sqrt(sigma2), prob), "note": note})
    rows.append({**stats_row("share(residual)", "share", None, None, residual_share, prob),
                 "note": note})
    table = tidy_table(rows)
    table["note"] = table["note"].astype(object).where(table["note"].notna(), None)
    return table


def _slope_note(design: Design) -> str | None:
    slopes = sorted({t for g in design.groups for t in g.terms if t != INTERCEPT})
    if not slopes:
        return None
    return (
        f"conditional on {', '.join(slopes)} = 0 (random slopes present; "
        "see icc_curve for other values)"
    )


def _level_descriptions(factors: list[str], ancestors: np.ndarray) -> list[str]:
    """Who shares a level: ``"two observations in the same b:c (hence the same b)"``."""
    out = []
    for i, f in enumerate(factors):
        outer = [factors[j] for j in np.flatnonzero(ancestors[:, i])]
        inner = [factors[j] for j in np.flatnonzero(ancestors[i, :])]
        text = f"two observations in the same {f}"
        if outer:
            text += f" (hence the same {', '.join(outer)})"
        if inner:
            text += f" but a different {', '.join(inner)}"
        out.append(text)
    return out


def quantity_descriptions(factor: str, shared: str, cluster_size: float) -> dict[str, str]:
    """The ``description`` of each ICC row of one factor, by quantity.

    Parameters
    ----------
    factor : str
    shared : str
        Who shares the level (from :func:`_level_descriptions`).
    cluster_size : float
        Mean observations per level.

    Examples
    --------
    >>> quantity_descriptions("b:c", "two observations in the same b:c", 2.0)["icc"]
    'share of the total variance due to b:c alone: var(b:c) / total variance'
    """
    return {
        "icc": f"share of the total variance due to {factor} alone: var({factor}) / total "
               "variance",
        "corr_same": f"correlation of {shared}: the variances of {factor} and of every "
                     "factor it is nested in, over the total variance",
        "design_effect": f"variance of a mean of {cluster_size:g} observations sharing a "
                         f"{factor} relative to independent ones: 1 + (m - 1) corr_same",
    }


def icc(fit, prob: float = 0.9) -> pd.DataFrame:
    """Intraclass correlations, shared-level correlations and design effects.

    For each factor with a random intercept (variances tau_k^2, residual sigma^2, total
    ``V = sum_k tau_k^2 + sigma^2``):

    - ``icc``: ``tau_k^2 / V``, the share of variance at that level;
    - ``corr_same``: correlation of two observations sharing a level of k, which adds the
      variance of every factor k is nested in (``corr(same class) = (tau_school^2 +
      tau_class^2) / V``; for an outer or crossed factor it equals the ICC);
    - ``design_effect``: ``1 + (m_k - 1) * corr_same_k`` with m_k the mean number of
      observations per level of k.

    In a nested design (``(1 | batch/cask)``) the two differ for the inner factor: the
    correlation of two observations of the same cask is ``corr_same(batch:cask)``, not
    ``icc(batch:cask)``, which is only cask's share of the variance. Each row's
    ``description`` says which quantity it is.

    With random slopes these are conditional on the slope covariates being 0 (the
    ``note`` column says so); :func:`hierlmm.report.variance_curve.icc_curve` gives
    the ICC over a grid of covariate values.

    Parameters
    ----------
    fit : Fit
    prob : float

    Returns
    -------
    pandas.DataFrame
        Columns ``parameter`` (``"icc(school)"``, ``"corr_same(school:class)"``,
        ``"design_effect(school)"``), ``quantity``, ``factor``, ``term`` (None),
        ``cluster_size`` (mean observations per level), ``description``, ``note``, then
        ``mean, median, sd, q05, q95, rhat, ess_bulk``. Empty (with these columns) when
        no factor has a random intercept.
    """
    prob = check_prob(prob)
    post, design = fit.posterior, fit.design
    factors, tau2 = intercept_variance_draws(post, design)
    sigma2 = residual_variance_draws(fit)
    groups = [design.group(f) for f in factors]
    ancestors = nesting([g.codes for g in groups])
    iccs = icc_from_variances(tau2, sigma2)
    shared = shared_level_correlation(tau2, sigma2, ancestors)
    descriptions = _level_descriptions(factors, ancestors)
    notes = [n for n in (_slope_note(design), infinite_residual_note(sigma2)) if n]
    note = "; ".join(notes) if notes else None
    rows = []
    for i, (f, g) in enumerate(zip(factors, groups, strict=True)):
        m = design.n / g.n_levels
        described = quantity_descriptions(f, descriptions[i], m)
        deff = design_effect(shared[..., i], m)
        for quantity, values in (("icc", iccs[..., i]), ("corr_same", shared[..., i]),
                                 ("design_effect", deff)):
            extra = {"cluster_size": m, "description": described[quantity], "note": note}
            rows.append({**stats_row(f"{quantity}({f})", quantity, f, None, values, prob), **extra})
    columns = ["parameter", "quantity", "factor", "term", "cluster_size", "description",
               "note", *stat_columns(prob)]
    table = tidy_table(rows) if rows else pd.DataFrame(columns=columns)
    return table[columns]


def _intercept_only(design: Design, factor: str, option: str) -> GroupDesign:
    try:
        g = design.group(factor)
    except KeyError:
        raise SpecError(
            f"{option}={factor!r} is not a grouping factor of the model; "
            f"choose one of {[g.factor for g in design.groups]}"
        ) from None
    if g.terms != (INTERCEPT,):
        raise SpecError(
            f"{option}={factor!r} has terms {g.terms}; rater reliability needs a "
            "random-intercept-only factor, e.g. (1 | rater)"
        )
    return g


def rater_icc(fit, *, subject: str, rater: str, prob: float = 0.9) -> pd.DataFrame:
    """Reliability of a crossed subjects x raters design (two intercept-only factors).

    Consistency ``tau_s^2 / (tau_s^2 + sigma^2)`` ignores systematic rater offsets;
    absolute agreement ``tau_s^2 / (tau_s^2 + tau_r^2 + sigma^2)`` counts them as error.
    Other grouping factors of the model, if any, are ignored.

    Parameters
    ----------
    fit : Fit
    subject, rater : str
        Grouping factors of the rated units and of the raters.
    prob : float

    Returns
    -------
    pandas.DataFrame
        Two rows (``quantity`` ``"consistency"`` and ``"agreement"``); columns
        ``parameter, quantity, factor`` (the subject factor), ``term`` (the rater factor),
        ``mean, median, sd, q05, q95, rhat, ess_bulk``.
    """
    prob = check_prob(prob)
    if subject == rater:
        raise SpecError(f"subject and rater must differ, both are {subject!r}")
    g_s = _intercept_only(fit.design, subject, "subject")
    g_r = _intercept_only(fit.design, rater, "rater")
    post = fit.posterior
    tau2_s = factor_sd_draws(post, g_s)[..., 0] ** 2
    tau2_r = factor_sd_draws(post, g_r)[..., 0] ** 2
    consistency, agreement = rater_reliability(tau2_s, tau2_r, residual_variance_draws(fit))
    rows = [
        stats_row(f"icc_consistency({subject}|{rater})", "consistency", subject, rater,
                  consistency, prob),
        stats_row(f"icc_agreement({subject}|{rater})", "agreement", subject, rater,
                  agreement, prob),
    ]
    return tidy_table(rows)
