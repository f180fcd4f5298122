"""Unrolled batched small-matrix algebra equals numpy.linalg."""

from __future__ import annotations

import numpy as np
import pytest

from hierlmm.engines.collapsed import small_linalg


@pytest.mark.parametrize("q", [1, 2, 3, 5])
def test_matches_numpy_linalg(q: int) -> None:
    rng = np.random.default_rng(q)
    M = rng.normal(size=(7, 4, q, q))
    A = M @ np.swapaxes(M, -1, -2) + q * np.eye(q)
    b = rng.normal(size=(7, 4, q))
    C = small_linalg.cholesky(A)
    np.testing.assert_allclose(C, np.linalg.cholesky(A), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        small_linalg.solve_lower(C, b), np.linalg.solve(C, b[..., None])[..., 0], rtol=1e-10
    )
    np.testing.assert_allclose(
        small_linalg.solve_upper(C, b),
        np.linalg.solve(np.swapaxes(C, -1, -2), b[..., None])[..., 0],
        rtol=1e-10,
    )


def test_congruence_and_transpose_times() -> None:
    rng = np.random.default_rng(7)
    K = rng.normal(size=(5, 3, 3))
    M = rng.normal(size=(4, 3, 3))
    v = rng.normal(size=(5, 4, 3))
    expected = np.einsum("dca,lcb,dbe->dlae", K, M, K)
    np.testing.assert_allclose(small_linalg.congruence(K, M), expected, rtol=1e-12)
    np.testing.assert_allclose(
        small_linalg.transpose_times(K, v), np.einsum("dca,dlc->dla", K, v), rtol=1e-12
    )
