"""Frozen records handed from the design stage to the model stage.

Pure numpy. Random effects are stored compactly per grouping factor (integer codes plus
the factor's own slope columns), never as a dense n x (levels * q) matrix, so memory
grows as O(n * q).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hierlmm.design.encoders import Encoders
from hierlmm.design.residual import ResidualDesign


@dataclass(frozen=True)
class GroupDesign:
    """Encoded random effects of one grouping factor.

    Attributes
    ----------
    factor : str
        Factor name as in the spec (``"Subject"``, ``"school:class"``).
    codes : ndarray of int64, shape (n,)
        Level index of each observation, in ``[0, n_levels)``.
    Z : ndarray of float64, shape (n, q)
        Random-effect columns of this factor (a column of ones for the intercept).
    terms : tuple of str, length q
        Effect names, ``"Intercept"`` first when present (column backticks removed:
        ``"reaction time"`` for the slope ``"`reaction time`"``).
    levels : tuple of str, length n_levels
        Level labels in code order.
    correlated : bool
        Whether the q effects share an LKJ-correlated covariance.
    """

    factor: str
    codes: np.ndarray
    Z: np.ndarray
    terms: tuple[str, ...]
    levels: tuple[str, ...]
    correlated: bool

    @property
    def n_levels(self) -> int:
        """Number of levels L."""
        return len(self.levels)

    @property
    def q(self) -> int:
        """Number of effects per level."""
        return len(self.terms)

    @property
    def counts(self) -> np.ndarray:
        """Observations per level, shape (n_levels,)."""
        return np.bincount(self.codes, minlength=self.n_levels)


@dataclass(frozen=True)
class Design:
    """Data encoded for a :class:`~hierlmm.spec.ModelSpec`.

    Attributes
    ----------
    y : ndarray of float64, shape (n,)
        Response.
    X : ndarray of float64, shape (n, p)
        Fixed-effects design matrix (intercept column first when present).
    fixed_names : tuple of str, length p
        Column names of ``X`` (categorical terms expand to one name per contrast).
    groups : tuple of GroupDesign
        One per grouping factor, in spec order.
    response : str
        Response name as displayed (column backticks removed).
    data : pandas.DataFrame, shape (n, k)
        The rows used (after any NaN drop), restricted to the columns the model uses;
        kept for reports and for re-encoding when a saved fit is loaded.
    n_dropped : int
        Rows dropped for missing values (``na_action="drop"``); 0 otherwise.
    residual : ResidualDesign
        Series, times and row order of an AR(1)/CAR(1) residual;
        :meth:`ResidualDesign.iid` (no arrays) for independent residuals.
    encoders : Encoders or None
        formulae's fitted encodings of the fixed part and of each factor's slopes, used to
        encode new rows (:mod:`hierlmm.design.new_data`); set by
        :func:`~hierlmm.design.build_design`. ``None`` for a design built by hand: new
        rows are then encoded after fitting the encodings on ``data`` again.
    trials : ndarray of float64, shape (n,), or None
        Binomial trials (``ModelSpec.trials``); ``y`` holds the successes.
    offset : ndarray of float64, shape (n,), or None
        Added to the linear predictor with coefficient 1 (``ModelSpec.offset``).
    event_label : str or None
        For a bernoulli response given as two labels (or bool), the label coded as 1.
    """

    y: np.ndarray
    X: np.ndarray
    fixed_names: tuple[str, ...]
    groups: tuple[GroupDesign, ...]
    response: str
    data: pd.DataFrame
    n_dropped: int = 0
    residual: ResidualDesign = field(default_factory=ResidualDesign.iid)
    encoders: Encoders | None = field(default=None, repr=False)
    trials: np.ndarray | None = field(default=None, repr=False)
    offset: np.ndarray | None = field(default=None, repr=False)
    event_label: str | None = None

    @property
    def n(self) -> int:
        """Number of observations."""
        return int(self.y.shape[0])

    @property
    def p(self) -> int:
        """Number of fixed-effect columns."""
        return int(self.X.shape[1])

    def group(self, factor: str) -> GroupDesign:
        """Return the :class:`GroupDesign` of ``factor``."""
        for g in self.groups:
            if g.factor == factor:
                return g
        raise KeyError(factor)
