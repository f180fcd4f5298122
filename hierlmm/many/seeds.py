"""Per-outcome seeds: a function of the batch seed and the outcome's index only."""

from __future__ import annotations

import numpy as np


def outcome_seed(seed: int, index: int) -> int:
    """Seed of outcome ``index`` in a batch seeded with ``seed``.

    Derived with :class:`numpy.random.SeedSequence` from ``(seed, index)``, so an
    outcome's draws do not depend on chunking, worker count or the other outcomes, and
    ``hierlmm.fit(..., seed=outcome_seed(seed, j), sampler="nutpie")`` with the same
    draws, tune and chains reproduces outcome ``j`` of ``backend="python"`` alone
    (``fit_many`` always runs NUTS; ``hierlmm.fit``'s ``"auto"`` may choose the
    independence sampler).

    Examples
    --------
    >>> outcome_seed(1, 0) == outcome_seed(1, 0), outcome_seed(1, 0) == outcome_seed(1, 1)
    (True, False)
    """
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0]
    return int(state >> 1)  # 31 bits: a valid seed for every backend


def outcome_seeds(seed: int, indices: np.ndarray) -> np.ndarray:
    """:func:`outcome_seed` of each index, shape (k,) int64."""
    return np.array([outcome_seed(seed, int(j)) for j in indices], dtype=np.int64)
