"""Independence Metropolis-Hastings with a Laplace-fitted multivariate t or split-t proposal.

For log-densities that cost a lot per evaluation but have few parameters. When the
collapsed engine integrates out every grouping factor of a large Gaussian design
(:mod:`hierlmm.engines.collapsed.allfactor`), the posterior lives on a handful of
parameters (fixed effects, sigma, each factor's covariance) that are very nearly jointly
normal on PyMC's unconstrained scale, while one evaluation costs a dense Cholesky
(InstEval: m = 1,142, about 21 ms for a value and 48 ms with the gradient on one core
of the 2-core development machine). NUTS spends 3-15 gradients per draw; this sampler
spends one value per draw:

1. **Laplace.** Maximise the log-density with L-BFGS (value and gradient) from the
   origin of the unconstrained scale; with an :class:`ExactBlock` the optimiser moves
   the other coordinates only, the block held at its conditional mode (the profile).
   The Hessian at the mode comes from central differences of the gradient in those
   coordinates (2 d gradients, on several threads when given copies), the block's own
   curvature from its conditional.
2. **Warm-up.** Proposals from a multivariate t (``DF`` degrees of freedom) at the mode
   with scale ``-H^{-1}``, or for expensive log-densities (``split=True``) Geweke's
   split-t, whose every Laplace axis is stretched on each side to the log-density
   probed 3 SDs out (:func:`split_scales`, ``2 d + 1`` evaluations): per chain,
   ``warmup`` (a few, where a log-density is expensive, ``tune`` where it is cheap) or
   ``tune``, whichever is smaller, and no more than the covariance estimate needs
   (:func:`warmup_per_chain`). Their (truncated, Ionides 2008) importance weights
   estimate the posterior mean, which centres a plain t, and with enough warm-up draws
   its covariance, which replaces the Laplace one (:func:`adapted`). With an
   :class:`ExactBlock` (the fixed effects of the all-factor engine), only the other
   parameters are proposed.
3. **Sampling.** Each chain starts at an importance resample of the warm-up proposals
   and runs independence MH: a proposal ``x'`` is accepted with probability
   ``min(1, w(x') / w(x))``, ``w = p / q``. Proposals do not depend on the chain's
   state, so every log-density is evaluated first and the accept/reject pass follows.
   The evaluations are independent, so they run on several threads when the caller
   hands over copies of its compiled functions (:class:`Evaluator`,
   :mod:`hierlmm.engines.threads`); the random numbers are drawn before, so the draws
   are the same on any number of threads.

Whatever the proposal, the chains are an exact MCMC sample of the posterior (Tierney
1994); a poor proposal shows as low acceptance, low ESS and high R-hat, never as bias.
There are no trajectories and hence no divergences. ``sample_stats`` holds ``lp``,
``accepted``, ``log_weight`` (``log p - log q``) and an all-False ``diverging``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.optimize
import xarray as xr
from scipy.stats import multivariate_t

from hierlmm.engines.threads import for_each_index
from hierlmm.errors import FitError

DF = 7.0  # degrees of freedom of the t proposal (Laplace covariance)
ADAPTED_DF = 30.0  # ... with the importance-weighted covariance
SCALE = 1.1  # proposal scale over the estimated posterior SDs
WARMUP_MAX = 30  # warm-up proposals per chain, at most
MIN_IS_ESS_PER_DIM = 10.0  # importance-sampling ESS per dimension to trust its mean
MIN_IS_ESS_PER_ENTRY = 20.0  # ... per covariance entry, d (d + 1) / 2, to trust its covariance
WARMUP_PER_ENTRY = 50  # warm-up proposals (all chains) per covariance entry, at most
SPLIT_DF = 15.0  # degrees of freedom of the sampling split-t (its sides set the scale)
SPLIT_SCALE = 1.05  # ... and its scale over the probed sides
SPLIT_PROBE = 3.0  # where the split-t probes each axis, in Laplace SDs from the mode
SPLIT_RANGE = (0.5, 3.0)  # its side scales are kept within this range (Laplace SDs)
FD_STEP = 1e-4  # central-difference step of the Hessian, on the unconstrained scale
LOG_2PI = float(np.log(2.0 * np.pi))


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
        (:func:`split_scales`).
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


@dataclass(frozen=True)
class Laplace:
    """Mode and curvature of the log-density.

    Attributes
    ----------
    mode : ndarray, shape (d,)
    cov : ndarray, shape (d, d)
        ``-H^{-1}`` at the mode.
    n_gradients : int
        Gradient evaluations spent (optimiser plus Hessian).
    """

    mode: np.ndarray
    cov: np.ndarray
    n_gradients: int


def laplace(logp_dlogp: Callable, x0: np.ndarray, *, gradients: Sequence[Callable] = (),
            exact: ExactBlock | None = None) -> Laplace:
    """Maximise ``logp_dlogp`` (``x -> (logp, grad)``) and take its curvature there.

    Parameters
    ----------
    logp_dlogp : callable
    x0 : ndarray, shape (d,)
    gradients : sequence of callable
        Copies of ``logp_dlogp`` (own compiled functions): the Hessian's differences
        then run on ``1 + len(gradients)`` threads.
    exact : ExactBlock, optional
        Its block of the Hessian is its conditional's precision, not a difference.

    Raises
    ------
    FitError
        When the optimiser fails or the Hessian at the mode is not negative definite.
    """
    calls = [0]
    x0 = np.asarray(x0, dtype=np.float64)
    target = logp_dlogp if exact is None else _profiled(logp_dlogp, exact, x0)
    free = np.arange(x0.size) if exact is None else _free(x0.size, exact)
    result = scipy.optimize.minimize(_negative(target, calls), x0[free], jac=True,
                                     method="L-BFGS-B", options={"maxiter": 500})
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise FitError(f"the Laplace fit of the independence sampler failed: {result.message}")
    mode = x0.copy()
    mode[free] = result.x
    if exact is not None:
        mode[exact.index] = exact.conditional(mode.copy())[0]
    functions = [_negative(f, calls) for f in (logp_dlogp, *gradients)]
    hessian = _hessian([lambda x, f=f: f(x)[1] for f in functions], mode, exact)
    eigen = np.linalg.eigvalsh(hessian)
    if eigen.min() <= 0:
        raise FitError(
            "the independence sampler found no proper mode (the posterior's curvature at "
            f"its maximum is not positive definite, smallest eigenvalue {eigen.min():.3g}); "
            'use sampler="nutpie"'
        )
    return Laplace(mode, np.linalg.inv(hessian), calls[0])


def _free(d: int, exact: ExactBlock) -> np.ndarray:
    """Positions outside the exact block, (d_free,)."""
    mask = np.ones(d, dtype=bool)
    mask[exact.index] = False
    return np.flatnonzero(mask)


def _profiled(logp_dlogp: Callable, exact: ExactBlock, template: np.ndarray) -> Callable:
    """``theta -> (logp, grad)`` over the coordinates outside ``exact``, the exact block
    at its conditional mode (the profile: its gradient is the partial one, as the block's
    own gradient vanishes there). Its maximum is the joint mode's, without the ridges
    between the block and the rest (InstEval's intercept and department SD)."""
    free = _free(template.size, exact)

    def profiled(theta: np.ndarray) -> tuple[float, np.ndarray]:
        x = template.copy()
        x[free] = theta
        x[exact.index] = exact.conditional(x.copy())[0]
        value, grad = logp_dlogp(x)
        return value, np.asarray(grad)[free]
    return profiled


def _negative(logp_dlogp: Callable, calls: list[int]) -> Callable:
    """``x -> (-logp, -grad)``, infinite where ``logp`` is not finite; counts calls."""
    def negative(x):
        calls[0] += 1
        value, grad = logp_dlogp(x)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(x)
        return -float(value), -np.asarray(grad, dtype=np.float64)
    return negative


def _hessian(gradients: Sequence[Callable], x: np.ndarray,
             exact: ExactBlock | None = None) -> np.ndarray:
    """Symmetrised central-difference Jacobian of the gradient at ``x``, (d, d).

    One column per coordinate outside ``exact`` (two gradients each, shared out over
    ``gradients``, one function per thread); the exact block's own entries are the
    precision of its Gaussian conditional, ``chol chol'``.
    """
    d = x.size
    free = np.arange(d) if exact is None else _free(d, exact)
    steps = FD_STEP * np.maximum(1.0, np.abs(x[free]))
    ends = np.empty((2, free.size, d))

    def handler(gradient: Callable) -> Callable[[int], None]:
        def column_end(k: int) -> None:
            sign, j = (1.0, k) if k < free.size else (-1.0, k - free.size)
            point = x.copy()
            point[free[j]] += sign * steps[j]
            ends[k // free.size, j] = gradient(point)
        return column_end

    for_each_index(2 * free.size, [handler(g) for g in gradients])
    H = np.zeros((d, d))
    H[:, free] = ((ends[0] - ends[1]) / (2.0 * steps[:, None])).T
    if exact is not None:
        block = np.ix_(exact.index, exact.index)
        chol = exact.conditional(x.copy())[1]
        H[block] = chol @ chol.T
        H[np.ix_(free, exact.index)] = H[np.ix_(exact.index, free)].T
    return 0.5 * (H + H.T)


def _weights(log_weight: np.ndarray) -> np.ndarray:
    """Self-normalised importance weights, truncated at ``mean * sqrt(n)`` (Ionides 2008)."""
    finite = np.where(np.isfinite(log_weight), log_weight, -np.inf)
    w = np.exp(finite - finite.max())
    w = np.minimum(w, w.mean() * np.sqrt(w.size))
    return w / w.sum()


def split_evaluations(d: int) -> int:
    """Log-densities :func:`split_scales` evaluates for ``d`` proposed coordinates."""
    return 2 * d + 1


def split_scales(target: Target, mode: np.ndarray, axes: np.ndarray,
                 rng: np.random.Generator, tick: Callable[[int], None]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Each Laplace axis' scale on either side of the mode, from the log-density there.

    The marginal log-density of the proposed coordinates (``lp - lq``: the exact block
    integrated out) is evaluated at the mode and at :data:`SPLIT_PROBE` Laplace SDs
    along every axis, both ways (``2 d + 1`` evaluations); a drop ``D`` gives the scale
    ``SPLIT_PROBE / sqrt(2 D)`` of the normal with that drop (Geweke 1989), within
    :data:`SPLIT_RANGE`. For a normal posterior every scale is 1.

    Returns
    -------
    plus, minus : ndarray, shape (d,)
    """
    d = mode.size
    points = np.vstack([mode, mode + SPLIT_PROBE * axes.T, mode - SPLIT_PROBE * axes.T])
    _, lp, lq = target.evaluate(points, rng, tick)
    marginal = lp - lq
    if not np.isfinite(marginal[0]):
        return np.ones(d), np.ones(d)
    drop = marginal[0] - marginal[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(drop > 0, SPLIT_PROBE / np.sqrt(2.0 * drop), SPLIT_RANGE[1])
    scale = np.clip(np.nan_to_num(scale, nan=SPLIT_RANGE[0]), *SPLIT_RANGE)
    return scale[:d], scale[d:]


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
    covariance entry: a t with the importance-weighted mean and covariance. Otherwise
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
    w = _weights(log_weight)
    ess = 1.0 / np.sum(w**2)
    d = x.shape[1]
    if ess < MIN_IS_ESS_PER_DIM * d:
        return _final(base)
    mean = w @ x
    if ess < MIN_IS_ESS_PER_ENTRY * d * (d + 1) / 2:
        return _final(base, mean)
    centred = x - mean
    cov = (w[:, None] * centred).T @ centred
    return Proposal(mean, SCALE**2 * cov * (ADAPTED_DF - 2.0) / ADAPTED_DF, ADAPTED_DF)


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


@dataclass(frozen=True)
class ExactBlock:
    """Coordinates drawn from their exact Gaussian conditional instead of proposed.

    With the fixed effects' conditional given the other parameters known exactly (a
    Gaussian likelihood with every random effect integrated out), proposing ``theta``
    from the t and ``beta | theta`` from that conditional makes the importance weight
    ``p(theta, beta) / (q(theta) p(beta | theta)) = p(theta) / q(theta)`` free of
    ``beta``: the sampler then works on the remaining parameters only, and the ridge
    between the intercept and a weakly identified SD (InstEval's 14 departments) no
    longer costs acceptance.

    Attributes
    ----------
    index : ndarray of int, shape (k,)
        Positions of the block in the unconstrained vector.
    conditional : callable
        ``x (d,) -> (mean (k,), chol (k, k))``: the block's conditional mean and the lower
        Cholesky factor of its precision, given the other coordinates of ``x``.
    """

    index: np.ndarray
    conditional: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Evaluator:
    """One thread's means of evaluating a proposal.

    Attributes
    ----------
    logp : callable
        ``x (d,) -> [logp]``.
    exact : ExactBlock or None
    logp_dlogp : callable or None
        ``x (d,) -> (logp, grad (d,))``, for the Laplace fit's Hessian.
    """

    logp: Callable
    exact: ExactBlock | None = None
    logp_dlogp: Callable | None = None

    def complete(self, x: np.ndarray, z: np.ndarray) -> float:
        """Fill the exact block of ``x`` in place with its conditional draw from standard
        normals ``z`` (k,); return the draw's log-density."""
        mean, chol = self.exact.conditional(x)
        x[self.exact.index] = mean + sla.solve_triangular(chol, z, lower=True, trans="T")
        return float(-0.5 * z @ z + np.log(np.diag(chol)).sum() - 0.5 * mean.size * LOG_2PI)

    def __call__(self, x: np.ndarray, z: np.ndarray | None) -> tuple[float, float]:
        """``(logp, log q of the exact block)`` at ``x`` (filled in place); failures and
        NaN give ``-inf``."""
        lq = 0.0
        try:
            if self.exact is not None:
                lq = self.complete(x, z)
            value = float(self.logp(x)[0])
        except (np.linalg.LinAlgError, FloatingPointError, ValueError, ZeroDivisionError):
            value = -np.inf
        return (value if np.isfinite(value) else -np.inf), lq


@dataclass(frozen=True)
class Target:
    """What the sampler evaluates: the log-density, and optionally an exact block.

    Attributes
    ----------
    evaluators : tuple of Evaluator
        One per thread (:func:`hierlmm.engines.threads.for_each_index`), each with its own
        compiled functions; all compute the same log-density.
    template : ndarray, shape (d,)
        A full point (the mode); proposals fill its free coordinates.
    """

    evaluators: tuple[Evaluator, ...]
    template: np.ndarray

    @property
    def exact(self) -> ExactBlock | None:
        return self.evaluators[0].exact

    @property
    def free(self) -> np.ndarray:
        """Positions of the proposed coordinates, (d_free,)."""
        mask = np.ones(self.template.size, dtype=bool)
        if self.exact is not None:
            mask[self.exact.index] = False
        return np.flatnonzero(mask)

    def evaluate(self, free: np.ndarray, rng: np.random.Generator,
                 tick: Callable[[int], None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Full points, log-densities and exact-block log-proposals at proposals ``free``.

        The exact block's normals are drawn from ``rng`` first, so the result does not
        depend on how many threads evaluate.

        Parameters
        ----------
        free : ndarray, shape (n, d_free)

        Returns
        -------
        x : ndarray, shape (n, d)
        lp : ndarray, shape (n,)
            Failures and NaN count as -inf.
        log_q_exact : ndarray, shape (n,)
            Zero without an exact block.
        """
        n = free.shape[0]
        x = np.tile(self.template, (n, 1))
        x[:, self.free] = free
        z = None if self.exact is None else rng.standard_normal((n, self.exact.index.size))
        lp, lq, lock = np.empty(n), np.zeros(n), threading.Lock()

        def handler(evaluator: Evaluator) -> Callable[[int], None]:
            def evaluate_row(i: int) -> None:
                lp[i], lq[i] = evaluator(x[i], None if z is None else z[i])
                with lock:
                    tick(1)
            return evaluate_row

        for_each_index(n, [handler(e) for e in self.evaluators])
        return x, lp, lq


@dataclass(frozen=True)
class Chains:
    """Independence-MH output: states and statistics, each with leading (chain, draw)."""

    x: np.ndarray
    lp: np.ndarray
    log_weight: np.ndarray
    accepted: np.ndarray


@dataclass(frozen=True)
class Evaluated:
    """Proposals with their full points, log-densities and log importance weights (n,)."""

    x: np.ndarray
    lp: np.ndarray
    log_weight: np.ndarray


def run_chains(start: Evaluated, proposed: Evaluated, rng: np.random.Generator) -> Chains:
    """Accept or reject pre-evaluated proposals chain by chain.

    Parameters
    ----------
    start : Evaluated
        One state per chain: ``x`` (chains, d), ``lp`` and ``log_weight`` (chains,).
    proposed : Evaluated
        ``x`` (chains, draws, d), ``lp`` and ``log_weight`` (chains, draws).
    rng : numpy.random.Generator
    """
    chains, draws, _ = proposed.x.shape
    state, state_lp, state_lw = start.x.copy(), start.lp.copy(), start.log_weight.copy()
    out = Chains(np.empty_like(proposed.x), np.empty((chains, draws)),
                 np.empty((chains, draws)), np.zeros((chains, draws), dtype=bool))
    log_u = np.log(rng.uniform(size=(chains, draws)))
    for t in range(draws):
        accept = log_u[:, t] < proposed.log_weight[:, t] - state_lw
        state[accept] = proposed.x[accept, t]
        state_lp[accept], state_lw[accept] = proposed.lp[accept, t], proposed.log_weight[accept, t]
        out.x[:, t], out.lp[:, t], out.log_weight[:, t] = state, state_lp, state_lw
        out.accepted[:, t] = accept
    return out


def _starts(warm: Evaluated, chains: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of one importance resample of the warm-up per chain (distinct if possible)."""
    w = _weights(warm.log_weight)
    replace = np.count_nonzero(w) < chains
    return rng.choice(w.size, size=chains, replace=replace, p=w)


@dataclass(frozen=True)
class IndependenceRun:
    """Everything one independence-sampler run produced, before expansion."""

    chains: Chains
    laplace: Laplace
    proposal: Proposal
    seconds: dict[str, float]


def _evaluated(target: Target, proposal: Proposal, free: np.ndarray,
               rng: np.random.Generator, tick) -> tuple[Evaluated, np.ndarray]:
    """Evaluate proposals ``free`` (n, d_free) from ``proposal``; also the exact-block
    log-proposals (n,), needed to re-weight these points under another proposal."""
    x, lp, lq = target.evaluate(free, rng, tick)
    return Evaluated(x, lp, lp - proposal.logpdf(free) - lq), lq


def sample_independence(
    logp_dlogp: Callable, logp: Callable, x0: np.ndarray, *, draws: int, tune: int,
    chains: int, seed: int, tick: Callable[[int], None] = lambda k: None,
    exact: ExactBlock | None = None, warmup: int = WARMUP_MAX,
    extra: Sequence[Evaluator] = (), split: bool = False,
) -> IndependenceRun:
    """Laplace fit, warm-up and independence MH on an unconstrained log-density.

    Parameters
    ----------
    logp_dlogp : callable
        ``x (d,) -> (logp, grad (d,))``.
    logp : callable
        ``x (d,) -> [logp]``, the value alone (cheaper where the model allows).
    x0 : ndarray, shape (d,)
        Where the optimiser starts.
    draws, tune, chains, seed : int
    tick : callable
        Called with the number of log-density evaluations done, for a progress bar.
    exact : ExactBlock, optional
        Coordinates drawn from their exact conditional (see :class:`ExactBlock`).
    warmup : int
        Warm-up proposals per chain, at most: a few where one log-density is expensive,
        ``tune`` where it is cheap (:func:`warmup_per_chain` takes the smaller of this,
        ``tune`` and what the covariance needs).
    extra : sequence of Evaluator
        Copies of ``(logp, exact)`` with their own compiled functions: proposals are then
        evaluated on ``1 + len(extra)`` threads (the draws do not change).
    split : bool
        Whether the base proposal is the split-t (:class:`SplitProposal`, ``2 d + 1``
        more evaluations) rather than the Laplace t.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1994]))
    t0 = time.perf_counter()
    gradients = [e.logp_dlogp for e in extra if e.logp_dlogp is not None]
    fitted = laplace(logp_dlogp, x0, gradients=gradients, exact=exact)
    target = Target((Evaluator(logp, exact), *extra), fitted.mode)
    free = target.free
    mode, cov = fitted.mode[free], fitted.cov[np.ix_(free, free)]
    if split:
        axes = np.linalg.cholesky(cov)
        base = SplitProposal(mode, axes, *split_scales(target, mode, axes, rng, tick), DF)
    else:
        base = Proposal(mode, cov, DF)
    t1 = time.perf_counter()
    warm_free = base.draw(rng, chains * warmup_per_chain(free.size, chains, tune, warmup))
    warm, warm_lq = _evaluated(target, base, warm_free, rng, tick)
    if not np.any(np.isfinite(warm.log_weight)):
        raise FitError("the independence sampler's warm-up found no finite log-density; "
                       'use sampler="nutpie"')
    final = adapted(base, warm_free, warm.log_weight)
    idx = _starts(warm, chains, rng)
    start = Evaluated(warm.x[idx], warm.lp[idx],
                      warm.lp[idx] - final.logpdf(warm_free[idx]) - warm_lq[idx])
    t2 = time.perf_counter()
    proposed, _ = _evaluated(target, final, final.draw(rng, chains * draws), rng, tick)
    d = proposed.x.shape[1]
    shaped = Evaluated(proposed.x.reshape(chains, draws, d), proposed.lp.reshape(chains, draws),
                       proposed.log_weight.reshape(chains, draws))
    result = run_chains(start, shaped, rng)
    seconds = {"laplace_s": t1 - t0, "warmup_s": t2 - t1, "draws_s": time.perf_counter() - t2}
    return IndependenceRun(result, fitted, final, seconds)


def to_datatree(
    run: IndependenceRun, expand: Callable, names: list[str], shapes: list[tuple[int, ...]],
    dims: dict[str, tuple[str, ...]], coords: dict[str, list],
) -> xr.DataTree:
    """``posterior`` (the kept variables at every state) and ``sample_stats``.

    Parameters
    ----------
    run : IndependenceRun
    expand : callable
        ``x (d,) -> [one array per kept variable]``.
    names, shapes : list
        Kept variables and their shapes.
    dims : dict of str to tuple of str
    coords : dict of str to list
    """
    chains, draws, d = run.chains.x.shape
    flat = run.chains.x.reshape(-1, d)
    unique, inverse = np.unique(flat, axis=0, return_inverse=True)
    expanded = [expand(row) for row in unique]
    data = {}
    for k, (name, shape) in enumerate(zip(names, shapes, strict=True)):
        values = np.stack([np.reshape(e[k], shape) for e in expanded])[inverse.ravel()]
        var_dims = dims.get(name, tuple(f"{name}_dim_{i}" for i in range(len(shape))))
        data[name] = (("chain", "draw", *var_dims), values.reshape(chains, draws, *shape))
    used = {dim for _, (var_dims, _) in data.items() for dim in var_dims}
    posterior = xr.Dataset(
        data, coords={k: list(v) for k, v in coords.items() if k in used}
    ).assign_coords(chain=np.arange(chains), draw=np.arange(draws))
    stats = xr.Dataset(
        {"lp": (("chain", "draw"), run.chains.lp),
         "log_weight": (("chain", "draw"), run.chains.log_weight),
         "accepted": (("chain", "draw"), run.chains.accepted),
         "diverging": (("chain", "draw"), np.zeros((chains, draws), dtype=bool))},
        coords={"chain": np.arange(chains), "draw": np.arange(draws)},
        attrs={"sampler": "independence", "acceptance_rate": float(run.chains.accepted.mean()),
               "proposal_df": run.proposal.df, "laplace_gradients": run.laplace.n_gradients,
               **run.seconds},
    )
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})
