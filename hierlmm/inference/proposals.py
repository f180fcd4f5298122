"""Proposals of the independence sampler (:mod:`.independence`) and their adaptation.

A multivariate t at the Laplace mode (:class:`Proposal`), or Geweke's (1989) split-t,
stretched on each side of the mode to the posterior (:class:`SplitProposal`, its sides
probed by :func:`~hierlmm.inference.independence.split_scales`); after the warm-up,
:func:`adapted` turns the base into the sampling proposal from the importance weights
of the warm-up draws (with enough of them, a split-t along their weighted covariance
with weighted sides, :func:`weighted_split`), and :func:`warmup_per_chain` says how many
of those to make.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy.stats import multivariate_t

DF = 7.0  # degrees of freedom of the t proposal (Laplace covariance)
ADAPTED_DF = 30.0  # ... with the importance-weighted covariance
ADAPTED_SPLIT_DF = 15.0  # ... and importance-weighted sides (a split-t base)
SCALE = 1.1  # proposal scale over the estimated posterior SDs
WARMUP_MAX = 30  # warm-up proposals per chain, at most
MIN_IS_ESS_PER_DIM = 10.0  # importance-sampling ESS per dimension to trust its mean
MIN_IS_ESS_PER_ENTRY = 20.0  # ... per covariance entry, d (d + 1) / 2, to trust its covariance
WARMUP_PER_ENTRY = 50  # warm-up proposals (all chains) per covariance entry, at most
SPLIT_DF = 15.0  # degrees of freedom of the sampling split-t (its sides set the scale)
SPLIT_SCALE = 1.05  # ... and its scale over the probed sides


@dataclass(frozen=True)
class Proposal:
    """A multivariate t proposal.

    Attributes
    ----------
    mean : ndarray, shape (d,)
    cov : ndarray, shape (d, d)
        Scale matrix of the t (its covariance is ``cov * df / (df - 2)``).
    df : float
    """

    mean: np.ndarray
    cov: np.ndarray
    df: float = DF

    def _dist(self):
        return multivariate_t(loc=self.mean, shape=self.cov, df=self.df)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws, shape (size, d)."""
        return np.reshape(self._dist().rvs(size=size, random_state=rng), (size, -1))

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log-density at the rows of ``x`` (n, d), shape (n,)."""
        return np.atleast_1d(self._dist().logpdf(x))


@dataclass(frozen=True)
class SplitProposal:
    """Geweke's (1989) split-t: a multivariate t along the axes of the Laplace covariance,
    stretched by its own factor on each side of the mode.

    ``x = mode + axes (s * z)`` with ``z ~ t_df(0, c^2 I)`` and ``s_j = plus_j`` where
    ``z_j > 0``, ``minus_j`` elsewhere; the map is linear on each orthant, so
    ``log q(x) = log t(z) - sum_j log s_j - log det(axes)``.

    Attributes
    ----------
    mode : ndarray, shape (d,)
    axes : ndarray, shape (d, d)
        Lower Cholesky factor of the Laplace covariance.
    plus, minus : ndarray, shape (d,)
        Each axis' scale on its positive and negative side, in Laplace SDs
        (:func:`~hierlmm.inference.independence.split_scales`).
    df : float
    c : float
        Scale of ``z``.
    """

    mode: np.ndarray
    axes: np.ndarray
    plus: np.ndarray
    minus: np.ndarray
    df: float = DF
    c: float = 1.0

    def _t(self):
        d = self.mode.size
        return multivariate_t(loc=np.zeros(d), shape=self.c**2 * np.eye(d), df=self.df)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws, shape (size, d)."""
        z = np.reshape(self._t().rvs(size=size, random_state=rng), (size, -1))
        return self.mode + (z * np.where(z > 0, self.plus, self.minus)) @ self.axes.T

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log-density at the rows of ``x`` (n, d), shape (n,)."""
        w = sla.solve_triangular(self.axes, np.atleast_2d(x - self.mode).T, lower=True).T
        stretch = np.where(w > 0, self.plus, self.minus)
        return (np.atleast_1d(self._t().logpdf(w / stretch)) - np.log(stretch).sum(axis=1)
                - np.log(np.diag(self.axes)).sum())

    def final(self) -> SplitProposal:
        """The sampling proposal: a t with :data:`SPLIT_DF` degrees of freedom and
        covariance :data:`SPLIT_SCALE` squared times the probed sides'. Its sides already
        follow the posterior, so it can be lighter-tailed and tighter than the Laplace t
        (InstEval, seeds 1-4, 4 x 250 draws: acceptance 0.88-0.90 and min bulk ESS
        620-771 with 15 and 1.05; 0.91 and 552-699 with 30 and 1.0; 0.79-0.84 and
        304-591 with the Laplace t's 7 and 1.1)."""
        df = SPLIT_DF
        return SplitProposal(self.mode, self.axes, self.plus, self.minus, df,
                             SPLIT_SCALE * np.sqrt((df - 2.0) / df))


def truncated_weights(log_weight: np.ndarray) -> np.ndarray:
    """Self-normalised importance weights, truncated at ``mean * sqrt(n)`` (Ionides 2008)."""
    finite = np.where(np.isfinite(log_weight), log_weight, -np.inf)
    w = np.exp(finite - finite.max())
    w = np.minimum(w, w.mean() * np.sqrt(w.size))
    return w / w.sum()


def _final(base: Proposal | SplitProposal, mean: np.ndarray | None = None,
           ) -> Proposal | SplitProposal:
    """``base`` at the sampling scale (:data:`SCALE`); a plain t also moves to ``mean``
    (a split-t's sides already follow the posterior's skew)."""
    if isinstance(base, SplitProposal):
        return base.final()
    centre = base.mean if mean is None else mean
    return Proposal(centre, SCALE**2 * base.cov * (DF - 2.0) / DF, DF)


def adapted(base: Proposal | SplitProposal, x: np.ndarray, log_weight: np.ndarray,
            ) -> Proposal | SplitProposal:
    """The final proposal from the warm-up draws ``x`` (n, d) and their log weights (n,).

    When the (truncated) weights' Kish ESS is at least :data:`MIN_IS_ESS_PER_ENTRY` per
    covariance entry: for a split-t base (every engine's), a split-t at its mode along
    the axes of the importance-weighted covariance with importance-weighted sides
    (:func:`weighted_split`), so that the skew and the long side the probes found stay;
    for a plain t base, a t with the importance-weighted mean and covariance. Otherwise
    ``base`` at the sampling scale (a plain t centred at the importance-weighted mean when
    the ESS is at least :data:`MIN_IS_ESS_PER_DIM` per dimension; a split-t as it is, its
    sides already follow the skew). Either covariance is times :data:`SCALE` squared.

    With a few warm-up draws per chain (expensive designs) the covariance stays: the weighted
    covariance of so few draws, tried on the 300 x 300 design with slopes (7 proposed
    parameters), lowered acceptance from 0.74-0.75 to 0.65 and the min bulk ESS of 4 x
    250 draws from 465-496 to 350 (noise in 28 covariances), while shifting the mean
    helps skewed SDs (InstEval's departments). With 1,000 per chain (cheap designs) the
    covariance is well estimated: on sleepstudy (6 parameters, 4 x 1000 draws, seeds
    1-8) it raised the min bulk ESS from 247-1,041 to 1,299-1,744 and acceptance from
    0.58-0.65 to 0.68-0.71. Its t then has :data:`ADAPTED_DF` degrees of freedom: the
    covariance already measures the posterior's spread, and lighter tails raise the
    acceptance where the posterior is nearly normal (the 1,000-group benchmark design,
    seeds 1-3: min bulk ESS 1,941-2,280 with 7, 2,672-3,070 with 30; sleepstudy, seeds
    4-11: 1,114-1,949).
    """
    w = truncated_weights(log_weight)
    ess = 1.0 / np.sum(w**2)
    d = x.shape[1]
    if ess < MIN_IS_ESS_PER_DIM * d:
        return _final(base)
    mean = w @ x
    if ess < MIN_IS_ESS_PER_ENTRY * d * (d + 1) / 2:
        return _final(base, mean)
    centred = x - mean
    cov = (w[:, None] * centred).T @ centred
    if isinstance(base, SplitProposal):
        return weighted_split(base.mode, np.linalg.cholesky(cov), x, w)
    return Proposal(mean, SCALE**2 * cov * (ADAPTED_DF - 2.0) / ADAPTED_DF, ADAPTED_DF)


def weighted_split(mode: np.ndarray, axes: np.ndarray, x: np.ndarray, w: np.ndarray,
                   ) -> SplitProposal:
    """A split-t at ``mode`` along ``axes`` (d, d) whose sides are the importance-weighted
    root mean squares of the draws ``x`` (n, d) on either side of the mode along each
    axis (weights ``w``, (n,), summing to 1), with :data:`ADAPTED_SPLIT_DF` degrees of
    freedom and :data:`SCALE` times those sides as its SDs.

    A symmetric t with the weighted covariance cannot follow a log-SD's long left tail
    however well the warm-up found it: on ``u = log |z|`` (4 x 4,000 draws, seeds 1-6)
    it gave SD ratios 0.86-1.45, this split-t 0.98-1.03. Degrees of freedom, sleepstudy
    seeds 21, 1, 2: min bulk ESS 812, 1,273, 1,356 with 7; 1,060, 1,527, 1,216 with 15;
    889, 1,170, 1,562 with 30 (whose 1-D tail check was rougher: up to 1.10)."""
    u = sla.solve_triangular(axes, (x - mode).T, lower=True).T
    above = u > 0
    sides = []
    for mask in (above, ~above):
        mass = (w[:, None] * mask).sum(axis=0)
        square = (w[:, None] * mask * u**2).sum(axis=0)
        sides.append(np.sqrt(np.where(mass > 0, square / np.maximum(mass, 1e-300), 1.0)))
    df = ADAPTED_SPLIT_DF
    return SplitProposal(mode, axes, sides[0], sides[1], df, SCALE * np.sqrt((df - 2.0) / df))


def warmup_per_chain(d_free: int, chains: int, tune: int, warmup: int) -> int:
    """Warm-up proposals per chain: ``min(tune, warmup)``, and at most what the
    importance-weighted covariance needs, :data:`WARMUP_PER_ENTRY` proposals in all per
    entry of a ``d_free`` x ``d_free`` covariance (2.5 times the Kish ESS that
    :func:`adapted` asks for, at an importance efficiency of 0.4 or better). Sleepstudy's
    6 parameters: 1,050 proposals, 263 per chain of 4, 0.3 s sooner than all 4,000 of
    ``tune``, for a slightly rougher proposal (over 6 seeds: acceptance 0.67 against
    0.70, mean min fixed-effect ESS of 4 x 1,000 draws 1,430 against 1,725)."""
    needed = math.ceil(WARMUP_PER_ENTRY * d_free * (d_free + 1) / 2 / chains)
    return max(1, min(tune, warmup, needed))
