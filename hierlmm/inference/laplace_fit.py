"""The Laplace fit that starts the independence sampler (:mod:`.independence`).

The mode of the log-density by L-BFGS, with an :class:`ExactBlock` (coordinates with an
exact Gaussian conditional, the all-factor engine's fixed effects) held at its
conditional mode while the optimiser moves the rest (the profile); the curvature at the
mode by central differences of the gradient in the other coordinates (on several
threads when given copies of the gradient, :mod:`hierlmm.engines.threads`), the block's
own from its conditional.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.optimize

from hierlmm.engines.threads import for_each_index
from hierlmm.errors import FitError

FD_STEP = 1e-4  # central-difference step of the Hessian, on the unconstrained scale


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
    free = free_positions(x0.size, exact)
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


def free_positions(d: int, exact: ExactBlock | None) -> np.ndarray:
    """Positions outside the exact block (all ``d`` without one), (d_free,)."""
    mask = np.ones(d, dtype=bool)
    if exact is not None:
        mask[exact.index] = False
    return np.flatnonzero(mask)


def _profiled(logp_dlogp: Callable, exact: ExactBlock, template: np.ndarray) -> Callable:
    """``theta -> (logp, grad)`` over the coordinates outside ``exact``, the exact block
    at its conditional mode (the profile: its gradient is the partial one, as the block's
    own gradient vanishes there). Its maximum is the joint mode's, without the ridges
    between the block and the rest (InstEval's intercept and department SD)."""
    free = free_positions(template.size, exact)

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
    free = free_positions(d, exact)
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
