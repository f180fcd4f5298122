"""Predictions for new data from posterior draws (numpy).

New rows are encoded by the design stage (:mod:`hierlmm.design.new_data`) with the
*training* encodings kept on ``fit.design.encoders``, so centring, scaling, ``poly`` bases
and categorical codings match the fitted model, and formulae never runs on the training
frame again. Grouping levels are matched by their labels (as in
:func:`hierlmm.design.encode.factor_codes`).

Unseen levels (or a grouping column absent from ``new_data``, which means "a new level")
are handled by ``new_groups``:

``"error"`` (the default, as in lme4 and brms)
    raise :class:`~hierlmm.errors.DataError` naming the unseen levels and the two
    options below.
``"population"``
    ``b = 0``: the population-average (marginal) mean of a Gaussian LMM.
``"sample"``
    ``b ~ N(0, Sigma)`` drawn afresh for each posterior draw and each unseen level,
    Sigma being that draw's random-effect covariance (Gelman & Hill 2007, ch. 12.8).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import xarray as xr

from hierlmm.design import new_data as new_rows
from hierlmm.design.design import GroupDesign
from hierlmm.design.encode import term_values
from hierlmm.design.new_data import NewGroupDesign
from hierlmm.design.validate import term_variables
from hierlmm.errors import DataError
from hierlmm.families import get_family
from hierlmm.families.base import trials_kwargs
from hierlmm.inference.joint import joint_posterior
from hierlmm.model import names
from hierlmm.model.covariance import factor_covariance_root
from hierlmm.model.linear_predictor import linear_predictor
from hierlmm.options import check_option

if TYPE_CHECKING:  # Fit.predict calls this module, so no runtime import of the record
    from hierlmm.inference.result import Fit

NewGroups = Literal["population", "sample", "error"]
PredictKind = Literal["mean", "predictive"]
PredictScale = Literal["response", "link"]


def new_fixed_matrix(fit: Fit, new_data: pd.DataFrame) -> np.ndarray:
    """Fixed-effects matrix of ``new_data``, shape (m, p), with the fit's encodings.

    See :func:`hierlmm.design.new_data.new_fixed_matrix`.
    """
    return new_rows.new_fixed_matrix(fit.spec, fit.design, new_data)


def new_group_design(fit: Fit, group: GroupDesign, new_data: pd.DataFrame) -> NewGroupDesign:
    """One grouping factor of the fit encoded on ``new_data``.

    See :func:`hierlmm.design.new_data.new_group_design`.
    """
    return new_rows.new_group_design(fit.spec, fit.design, group, new_data)


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
    new_groups: NewGroups = "error",
    kind: PredictKind = "mean",
    seed: int | np.random.Generator | None = None,
    scale: PredictScale = "response",
) -> np.ndarray:
    """Posterior draws of the mean (or of new observations) at new rows.

    Parameters
    ----------
    fit : Fit
    new_data : pandas.DataFrame, shape (m, k)
        Every column the model uses except the response. Grouping columns may be left
        out: each such factor then counts as one new level for all rows.
    new_groups : {"error", "population", "sample"}
        Treatment of unseen levels (see the module docstring). The default ``"error"``
        refuses them, as lme4 and brms do.
    kind : {"mean", "predictive"}
        ``"mean"``: the family's mean at ``eta = X beta + sum_k Z_k b_k`` (``eta`` itself
        for the Gaussian family); ``"predictive"``: one new observation per draw and row
        from the family (Gaussian: ``eta + N(0, sigma^2)``).
    seed : int or numpy.random.Generator, optional
        Seeds the draws of ``"sample"`` and ``"predictive"``; defaults to ``fit.seed``.
    scale : {"response", "link"}
        ``kind="mean"`` on the response scale (a probability, a rate; binomial: the
        probability of success) or on the link scale (``eta``, e.g. log-odds). GLMM rows
        need the offset and trials columns when the model has them.

    Returns
    -------
    ndarray of float64, shape (chain, draw, m)
        On the model's response scale (e.g. ``log(y)`` for a ``log(y)`` response).

    Raises
    ------
    DataError
        If a needed column is missing, values are missing or not encodable, or
        ``new_groups="error"`` meets an unseen level.

    Examples
    --------
    >>> import pandas as pd
    >>> new = pd.DataFrame({"Days": [0.0, 9.0], "Subject": ["308", "new"]})
    >>> predict(fit, new)
    Traceback (most recent call last):
    ...
    hierlmm.errors.DataError: new_data has level(s) of 'Subject' not seen in fitting: 'new'; ...
    >>> predict(fit, new, new_groups="population").shape  # (chain, draw, row)
    (1, 50, 2)
    """
    check_option("new_groups", new_groups, NewGroups)
    check_option("kind", kind, PredictKind)
    check_option("scale", scale, PredictScale)
    rng = np.random.default_rng(fit.seed if seed is None else seed)
    X = new_fixed_matrix(fit, new_data)  # (m, p)
    posterior = joint_posterior(fit.idata)
    groups = []
    for group in fit.design.groups:
        new = new_group_design(fit, group, new_data)
        b = _effects(posterior, group, new, new_groups, rng)  # (C, D, L + U, q)
        groups.append((b, new.codes, new.Z))
    eta = linear_predictor(posterior[names.BETA].values, X, groups)  # (C, D, m)
    if fit.spec.offset is not None:
        eta += new_term_values(fit.spec.offset, new_data, "offset")
    family = get_family(fit.spec.family, fit.spec.link)
    if kind == "predictive":
        trials = None
        if fit.spec.trials is not None:
            trials = new_term_values(fit.spec.trials, new_data, "trials")
        return family.predictive_draws(
            eta, family.param_draws(posterior), rng, **trials_kwargs(trials)
        )
    return eta if scale == "link" else family.inverse_link(eta)


def new_term_values(term: str, new_data: pd.DataFrame, what: str) -> np.ndarray:
    """An offset or trials term evaluated at new rows, shape (m,).

    Raises
    ------
    DataError
        If a column the term reads is missing from ``new_data``.
    """
    missing = [c for c in term_variables(term) if c not in new_data.columns]
    if missing:
        raise DataError(
            f"new_data lacks column(s) {', '.join(map(repr, missing))} of the {what} "
            f"{term!r}; add them (e.g. an exposure of 1 for a rate per unit)"
        )
    return term_values(term, new_data.reset_index(drop=True), what)
