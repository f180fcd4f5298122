"""Independence Metropolis-Hastings with a Laplace-fitted multivariate t or split-t proposal.

For log-densities that cost a lot per evaluation but have few parameters. When the
collapsed engine integrates out every grouping factor of a large Gaussian design
(:mod:`hierlmm.engines.collapsed.allfactor`), the posterior lives on a handful of
parameters (fixed effects, sigma, each factor's covariance) that are very nearly jointly
normal on PyMC's unconstrained scale, while one evaluation costs a dense Cholesky
(InstEval: m = 1,142, about 17 ms for a value and 51 ms with the gradient on one core
of the 2-core development machine). NUTS spends 3-15 gradients per draw; this sampler
spends one value per draw (the Laplace fit in :mod:`.laplace_fit`, the proposals in
:mod:`.proposals`):

1. **Laplace.** Maximise the log-density with L-BFGS (value and gradient) from the
   origin of the unconstrained scale; with an :class:`ExactBlock` the optimiser moves
   the other coordinates only, the block held at its conditional mode (the profile).
   The Hessian at the mode comes from central differences of the gradient in those
   coordinates (2 d gradients, on several threads when given copies), the block's own
   curvature from its conditional.
2. **Warm-up.** Proposals from Geweke's split-t, whose every Laplace axis is stretched
   on each side to the log-density probed at given distances (``probes``: 3 SDs out
   where a log-density is expensive, 3 and 9 where it is cheap, :func:`split_scales`),
   or with no probes a multivariate t (``DF`` degrees of freedom) at the mode with
   scale ``-H^{-1}``: per chain,
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
1994), and a poor proposal's bulk shows as low acceptance, low ESS and high R-hat. Its
tails do not: a region the proposal almost never reaches is missed by a finite run
without a trace in the diagnostics. That is why cheap log-densities are probed 9 SDs
out: a log-SD whose SD may be near zero has a long, exponential left tail (a logistic
slope SD, 200 subjects x 8 visits: the 1% quantile 7 Laplace SDs below the mode), which
the plain t with the importance-weighted covariance under-covered (its posterior SD
0.050 against NUTS' 0.064 on the same likelihood), and the adapted proposal keeps the
split (:func:`~hierlmm.inference.proposals.weighted_split`): 0.057-0.059 over seeds
1-4. What axis-wise sides cannot follow is a funnel: as that SD nears zero the
correlation's conditional widens towards its prior, so the correlation's posterior SD
stays 2-8% short (0.296-0.307 against 0.314-0.322), and on a Gaussian design (40
subjects x 10, slope SD 1.5) the slope SD's 1% quantile is 0.42 against NUTS' 0.27
(its posterior SD 0.609 against 0.618).
There are no trajectories and hence no divergences. ``sample_stats`` holds ``lp``,
``accepted``, ``log_weight`` (``log p - log q``) and an all-False ``diverging``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import xarray as xr
from arviz_stats.base import array_stats

from hierlmm.engines.threads import for_each_index
from hierlmm.errors import FitError
from hierlmm.inference.laplace_fit import ExactBlock, Laplace, free_positions, laplace
from hierlmm.inference.proposals import (
    DF,
    WARMUP_MAX,
    Proposal,
    SplitProposal,
    adapted,
    truncated_weights,
    warmup_per_chain,
)

LOG_2PI = float(np.log(2.0 * np.pi))
SPLIT_RANGE = (0.5, 3.0)  # its side scales are kept within this range (Laplace SDs)


def split_evaluations(d: int, probes: Sequence[float]) -> int:
    """Log-densities :func:`split_scales` evaluates for ``d`` proposed coordinates probed
    at the distances ``probes`` (none without probes: the Laplace t)."""
    return 2 * d * len(probes) + 1 if probes else 0


def split_scales(target: Target, mode: np.ndarray, axes: np.ndarray,
                 rng: np.random.Generator, tick: Callable[[int], None],
                 probes: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Each Laplace axis' scale on either side of the mode, from the log-density there.

    The marginal log-density of the proposed coordinates (``lp - lq``: the exact block
    integrated out) is evaluated at the mode and at each distance ``k`` of ``probes``
    (Laplace SDs) along every axis, both ways (:func:`split_evaluations`); a drop ``D``
    gives the scale ``k / sqrt(2 D)`` of the normal with that drop (Geweke 1989). Each
    side takes the largest scale over the distances, within :data:`SPLIT_RANGE`. For a
    normal posterior every scale is 1; a far probe finds a side whose tail is heavier
    than its shoulder, such as a log-SD's as the SD nears zero
    (:data:`hierlmm.engines.base.FAR_PROBES`).

    Returns
    -------
    plus, minus : ndarray, shape (d,)
    """
    d = mode.size
    steps = [mode + sign * k * axes.T for sign in (1.0, -1.0) for k in probes]
    _, lp, lq = target.evaluate(np.vstack([mode, *steps]), rng, tick)
    marginal = lp - lq
    if not np.isfinite(marginal[0]):
        return np.ones(d), np.ones(d)
    drop = (marginal[0] - marginal[1:]).reshape(2, len(probes), d)
    distance = np.asarray(probes, dtype=float)[None, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(drop > 0, distance / np.sqrt(2.0 * drop), SPLIT_RANGE[1])
    scale = np.clip(np.nan_to_num(scale, nan=SPLIT_RANGE[0]), *SPLIT_RANGE).max(axis=1)
    return scale[0], scale[1]


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
        return free_positions(self.template.size, self.exact)

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


def thinned(chains: Chains, thin: int) -> Chains:
    """Every ``thin``-th state of ``chains`` (the last of each block of ``thin``);
    ``accepted`` says whether any proposal of the block was accepted."""
    if thin == 1:
        return chains
    n_chains, steps = chains.lp.shape
    moved = chains.accepted.reshape(n_chains, steps // thin, thin).any(axis=2)
    keep = slice(thin - 1, None, thin)
    return Chains(chains.x[:, keep], chains.lp[:, keep], chains.log_weight[:, keep], moved)


def _starts(warm: Evaluated, chains: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of one importance resample of the warm-up per chain (distinct if possible)."""
    w = truncated_weights(warm.log_weight)
    replace = np.count_nonzero(w) < chains
    return rng.choice(w.size, size=chains, replace=replace, p=w)


@dataclass(frozen=True)
class IndependenceRun:
    """Everything one independence-sampler run produced, before expansion."""

    chains: Chains
    laplace: Laplace
    proposal: Proposal
    seconds: dict[str, float]
    pareto_k: float  # of the sampling proposals' importance weights (:func:`pareto_k`)
    acceptance_rate: float  # over every step, kept or thinned away


PARETO_MIN_DRAWS = 25  # the tail fit needs min(n / 5, 3 sqrt(n)) >= 5 weights


def pareto_k(log_weight: np.ndarray) -> float:
    """Pareto k-hat of importance weights ``exp(log_weight)`` (n,) (Vehtari et al. 2024):
    below 0.5 the weights have finite variance and an independence chain mixes well;
    above 0.7 a few proposals carry the run. Infinite when at most one weight is
    finite; NaN below :data:`PARETO_MIN_DRAWS` finite weights (too few for a tail fit)."""
    finite = log_weight[np.isfinite(log_weight)]
    if finite.size < 2:
        return float("inf")
    if finite.size < PARETO_MIN_DRAWS:
        return float("nan")
    weights = np.exp(finite - finite.max())[np.newaxis]  # (1 chain, n draws)
    return float(array_stats.pareto_khat(weights, tail="right", r_eff=1.0))


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
    extra: Sequence[Evaluator] = (), probes: Sequence[float] = (), thin: int = 1,
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
    probes : sequence of float
        Distances (Laplace SDs) at which :func:`split_scales` probes each axis for the
        split-t base proposal (:class:`SplitProposal`, :func:`split_evaluations` more
        evaluations); empty: the Laplace t.
    thin : int
        Each chain runs ``draws * thin`` states and keeps every ``thin``-th (the last of
        each block), so a longer run stores ``draws`` per chain.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1994]))
    t0 = time.perf_counter()
    gradients = [e.logp_dlogp for e in extra if e.logp_dlogp is not None]
    fitted = laplace(logp_dlogp, x0, gradients=gradients, exact=exact)
    target = Target((Evaluator(logp, exact), *extra), fitted.mode)
    free = target.free
    mode, cov = fitted.mode[free], fitted.cov[np.ix_(free, free)]
    if probes:
        axes = np.linalg.cholesky(cov)
        base = SplitProposal(mode, axes, *split_scales(target, mode, axes, rng, tick, probes),
                             DF)
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
    steps = draws * thin
    proposed, _ = _evaluated(target, final, final.draw(rng, chains * steps), rng, tick)
    d = proposed.x.shape[1]
    shaped = Evaluated(proposed.x.reshape(chains, steps, d), proposed.lp.reshape(chains, steps),
                       proposed.log_weight.reshape(chains, steps))
    every = run_chains(start, shaped, rng)
    seconds = {"laplace_s": t1 - t0, "warmup_s": t2 - t1, "draws_s": time.perf_counter() - t2}
    return IndependenceRun(thinned(every, thin), fitted, final, seconds,
                           pareto_k(proposed.log_weight), float(every.accepted.mean()))


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
        attrs={"sampler": "independence", "acceptance_rate": run.acceptance_rate,
               "proposal_df": run.proposal.df, "pareto_k": run.pareto_k,
               "laplace_gradients": run.laplace.n_gradients,
               **run.seconds},
    )
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})
