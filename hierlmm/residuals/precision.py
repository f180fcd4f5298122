"""Tridiagonal precision of an AR(1)/CAR(1) residual series, and its log-determinant.

For one series sorted by time, ``e_1..e_m`` with correlation matrix ``R`` and per-row
correlations ``phi_t`` with the previous row (``phi_1 = 0``; :mod:`hierlmm.residuals.base`),
the prewhitening ``u_t = (e_t - phi_t e_{t-1}) / sqrt(1 - phi_t^2)`` gives independent
standard normals, so ``R^{-1} = B'B`` with ``B`` lower bidiagonal and, with
``w_t = 1 / (1 - phi_t^2)``::

    (R^{-1})_{t,t}   = c0_t = w_t + w_{t+1} phi_{t+1}^2      (second term 0 at the end)
    (R^{-1})_{t,t-1} = c1_t = -w_t phi_t                      (0 at a series start)
    log det R        = sum_t log(1 - phi_t^2)

Rows of many series are laid end to end (sorted by series, then time); ``phi_t = 0`` at
each series start decouples them, so one set of length-n vectors describes the
block-diagonal precision of all series. For AR(1), ``phi_t = phi`` inside a series and
the entries reduce to ``c0 = (1 + phi^2 - phi^2 [first] - phi^2 [last]) / (1 - phi^2)``
and ``c1 = -phi / (1 - phi^2)``, ``log det R = (n - n_series) log(1 - phi^2)``.

Functions come in a numpy and a PyTensor flavour; vectors are in sorted row order.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt


def tridiagonal_numpy(phi_t: np.ndarray) -> tuple[np.ndarray, np.ndarray, float | np.ndarray]:
    """Diagonal ``c0``, sub-diagonal ``c1`` and ``log det R`` from ``phi_t`` (..., n).

    ``c0`` and ``c1`` have the shape of ``phi_t``; ``log det R`` is a float for one
    series vector (n,) and an array (...) for a batch of them (e.g. one per draw).
    """
    one_minus = 1.0 - phi_t**2
    w = 1.0 / one_minus
    c0 = w.copy()
    c0[..., :-1] += w[..., 1:] * phi_t[..., 1:] ** 2
    logdet = np.sum(np.log(one_minus), axis=-1)
    return c0, -w * phi_t, float(logdet) if np.ndim(logdet) == 0 else logdet


def tridiagonal_pt(phi_t):
    """PyTensor :func:`tridiagonal_numpy` for a symbolic ``phi_t`` (n,)."""
    one_minus = 1.0 - phi_t**2
    w = 1.0 / one_minus
    nxt = pt.concatenate([w[1:] * phi_t[1:] ** 2, pt.zeros((1,), dtype=w.dtype)])
    return w + nxt, -w * phi_t, pt.sum(pt.log(one_minus))


def apply_numpy(c0: np.ndarray, c1: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``R^{-1} v`` for ``v`` (..., n) in sorted row order (block-diagonal over series).

    ``c0``, ``c1`` are (n,) or broadcast with ``v`` (e.g. (d, n), one row per draw).
    """
    out = c0 * v
    out[..., 1:] += c1[..., 1:] * v[..., :-1]
    out[..., :-1] += c1[..., 1:] * v[..., 1:]
    return out


def apply_pt(c0, c1, v):
    """PyTensor :func:`apply_numpy` for ``v`` (n,)."""
    lower = c1[1:] * v[:-1]
    upper = c1[1:] * v[1:]
    zero = pt.zeros((1,), dtype=v.dtype)
    return c0 * v + pt.concatenate([zero, lower]) + pt.concatenate([upper, zero])
