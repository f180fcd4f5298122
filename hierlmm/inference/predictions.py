"""Predictions for new rows as a table: estimates with intervals, or tidy draws.

``Fit.predict`` calls :func:`prediction_table`, which summarises the draws of
:func:`hierlmm.inference.predict.predict` (the expected value and, on request, the
posterior predictive) one row per new row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from hierlmm.inference.accessors import draw_summary
from hierlmm.inference.predict import NewGroups, predict
from hierlmm.options import check_option

if TYPE_CHECKING:
    from hierlmm.inference.result import Fit

TableKind = Literal["mean", "draws"]


def _summary_columns(draws: np.ndarray, interval: float, prefix: str) -> dict[str, np.ndarray]:
    """``<prefix>estimate, <prefix>lower, <prefix>upper`` of draws (chain, draw, m)."""
    stats = draw_summary(draws, interval)
    return {f"{prefix}estimate": stats["mean"], f"{prefix}lower": stats["lower"],
            f"{prefix}upper": stats["upper"]}


def _long_draws(draws: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """Columns ``row, chain, draw`` of draws (chain, draw, m), rows outer."""
    C, D, m = draws.shape
    return pd.DataFrame({
        "row": np.repeat(np.asarray(index), C * D),
        "chain": np.tile(np.repeat(np.arange(C), D), m),
        "draw": np.tile(np.arange(D), C * m),
    })


def prediction_table(
    fit: Fit,
    newdata: pd.DataFrame,
    *,
    kind: TableKind = "mean",
    interval: float = 0.9,
    new_groups: NewGroups = "error",
    predictive: bool = False,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Posterior predictions at the rows of ``newdata``, summarised or as tidy draws.

    Parameters
    ----------
    fit : Fit
    newdata : pandas.DataFrame, shape (m, k)
        Every column the model uses except the response.
    kind : {"mean", "draws"}
        ``"mean"``: one row per new row with the posterior mean and the central
        interval; ``"draws"``: one row per new row and posterior draw.
    interval : float
        Mass of the central interval (``kind="mean"``).
    new_groups : {"error", "population", "sample"}
        Unseen grouping levels: refuse (default), use effects 0, or draw effects from
        the fitted distribution (see :mod:`hierlmm.inference.predict`).
    predictive : bool
        Also give the posterior predictive (a new observation, with residual noise).
    seed : int or numpy.random.Generator, optional
        Seeds the ``"sample"`` effects and the predictive draws; defaults to ``fit.seed``.

    Returns
    -------
    pandas.DataFrame
        ``kind="mean"``: index of ``newdata``, columns ``estimate, lower, upper`` (the
        expected value), and with ``predictive`` ``predicted_estimate, predicted_lower,
        predicted_upper``. ``kind="draws"``: columns ``row`` (label in ``newdata``),
        ``chain, draw, estimate`` and with ``predictive`` ``predicted``; m x chains x
        draws rows.

    Examples
    --------
    >>> import pandas as pd
    >>> new = pd.DataFrame({"Days": [0.0, 9.0], "Subject": ["308", "308"]})
    >>> table = prediction_table(fit, new, interval=0.8)
    >>> table.columns.tolist()
    ['estimate', 'lower', 'upper']
    """
    check_option("kind", kind, TableKind)
    # one integer seed for both calls: unseen "sample" levels get the same effects in the
    # expected value and in the predictive draws, which only add the family's noise
    call_seed = int(np.random.default_rng(fit.seed if seed is None else seed).integers(2**62))
    mean = predict(fit, newdata, new_groups=new_groups, kind="mean", seed=call_seed)
    parts = {"": mean}
    if predictive:
        parts["predicted_"] = predict(fit, newdata, new_groups=new_groups, kind="predictive",
                                      seed=call_seed)
    if kind == "draws":
        table = _long_draws(mean, newdata.index)
        for prefix, draws in parts.items():
            table[prefix.rstrip("_") or "estimate"] = draws.transpose(2, 0, 1).reshape(-1)
        return table
    columns: dict[str, np.ndarray] = {}
    for prefix, draws in parts.items():
        columns.update(_summary_columns(draws, interval, prefix))
    return pd.DataFrame(columns, index=newdata.index)
