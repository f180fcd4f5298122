"""Argument checks and small array helpers shared by the simulators.

Every check raises :class:`~hierlmm.errors.SpecError` naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import pandas as pd

from hierlmm.errors import SpecError

Seed = int | np.random.Generator


def make_rng(seed: Seed) -> np.random.Generator:
    """Return a Generator: ``seed`` itself, or ``numpy.random.default_rng(seed)`` for an int."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, Integral) and not isinstance(seed, bool) and int(seed) >= 0:
        return np.random.default_rng(int(seed))
    raise SpecError(
        f"seed={seed!r} is not valid; pass a non-negative int or a numpy.random.Generator"
    )


def count(name: str, value: object) -> int:
    """Return ``value`` as an int >= 1."""
    if isinstance(value, Integral) and not isinstance(value, bool) and int(value) >= 1:
        return int(value)
    raise SpecError(f"{name}={value!r} must be an integer >= 1")


def scale(name: str, value: object, *, positive: bool = False) -> float:
    """Return ``value`` as a finite float >= 0 (> 0 when ``positive``)."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (value > 0 or (value == 0 and not positive)):
        return float(value)
    bound = "> 0" if positive else ">= 0"
    raise SpecError(f"{name}={value!r} must be a finite number {bound}")


def real(name: str, value: object) -> float:
    """Return ``value`` as a finite float."""
    if isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise SpecError(f"{name}={value!r} must be a finite number")


def pair(name: str, value: object) -> tuple[float, float]:
    """Return a length-2 sequence of finite numbers as a tuple of floats."""
    if not isinstance(value, Sequence | np.ndarray) or len(value) != 2:
        raise SpecError(f"{name}={value!r} must be a pair of numbers (intercept, slope)")
    return real(f"{name}[0]", value[0]), real(f"{name}[1]", value[1])


def correlation(name: str, value: object) -> float:
    """Return ``value`` as a float in [-1, 1]."""
    corr = real(name, value)
    if not -1.0 <= corr <= 1.0:
        raise SpecError(f"{name}={value!r} must lie in [-1, 1]")
    return corr


def labels(prefix: str, n: int) -> np.ndarray:
    """Zero-padded labels ``prefix1 .. prefixN`` that sort naturally, shape (n,)."""
    width = len(str(n))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)])


def correlated_pairs(
    rng: np.random.Generator, n: int, sd: tuple[float, float], corr: float
) -> np.ndarray:
    """Draw ``n`` bivariate normal pairs with zero mean, SDs ``sd`` and correlation ``corr``.

    Uses the 2 x 2 Cholesky factor written out, so ``|corr| = 1`` works.

    Returns
    -------
    ndarray of float64, shape (n, 2)
    """
    z = rng.standard_normal((n, 2))  # (n, 2)
    first = sd[0] * z[:, 0]
    second = sd[1] * (corr * z[:, 0] + math.sqrt(1.0 - corr * corr) * z[:, 1])
    return np.column_stack([first, second])


def effects_frame(factor: str, level_labels: np.ndarray, values: np.ndarray,
                  terms: tuple[str, ...]) -> pd.DataFrame:
    """Wrap true effects (L, q) as a DataFrame indexed by level label, columns ``terms``."""
    values = np.asarray(values, dtype=np.float64).reshape(len(level_labels), len(terms))
    index = pd.Index(level_labels, name=factor)
    return pd.DataFrame(values, index=index, columns=list(terms))
