"""Batched exact effect draws after a collapsed AR(1)/CAR(1) fit vs one draw at a time.

The one-draw-at-a-time reference uses the ``R^{-1}``-weighted statistics of
:func:`weighted_stats_numpy` (checked against dense conditioning in
``test_collapsed_series.py``) and :func:`draw_group_effects`; with the same generator
the batched draws must equal it.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_collapsed_series import _params, _setup

from hierlmm.engines.collapsed.recover import draw_group_effects
from hierlmm.engines.collapsed.series import weighted_stats_numpy
from hierlmm.engines.collapsed.series_effects import chunks, draw_chunk
from hierlmm.residuals import get_residual
from hierlmm.residuals.precision import apply_numpy

N_DRAWS = 7


def _draws(kind: str, q: int, p: int, seed: int):
    rng = np.random.default_rng(seed)
    beta, sigma, chol, phi = zip(*[_params(rng, q, p, kind) for _ in range(N_DRAWS)],
                                 strict=True)
    return np.array(beta), np.array(sigma), np.array(chol), np.array(phi)


def _reference(pieces, structure, beta, sigma, chol, phi, seed, Z_sorted, offset_sorted):
    rng = np.random.default_rng(seed)
    out = []
    for d in range(phi.shape[0]):
        stats, c0, c1, _ = weighted_stats_numpy(pieces, structure, float(phi[d]))
        zr = None
        if offset_sorted is not None:
            Wo = apply_numpy(c0, c1, offset_sorted[d])
            zr = np.stack([np.bincount(pieces.level, weights=Z_sorted[:, a] * Wo,
                                       minlength=pieces.n_levels)
                           for a in range(pieces.q)], -1)[None]
        out.append(draw_group_effects(beta=beta[d:d + 1], sigma=sigma[d:d + 1],
                                      chol=chol[d:d + 1], stats=stats, rng=rng,
                                      offset_zr=zr)[0])
    return np.stack(out)


@pytest.mark.parametrize("offset", [False, True])
@pytest.mark.parametrize(("kind", "q"), [("ar1", 1), ("ar1", 2), ("car1", 1), ("car1", 2)])
def test_batched_draws_equal_one_draw_at_a_time(kind: str, q: int, offset: bool) -> None:
    _, design, pieces = _setup(kind, q, 5)
    structure = get_residual(kind)
    beta, sigma, chol, phi = _draws(kind, q, design.p, 3)
    Z_sorted = design.groups[0].Z[pieces.order]
    off = np.random.default_rng(4).normal(size=(N_DRAWS, design.n)) if offset else None
    ref = _reference(pieces, structure, beta, sigma, chol, phi, 8, Z_sorted, off)
    got = draw_chunk(pieces=pieces, structure=structure, beta=beta, sigma=sigma, chol=chol,
                     phi=phi, rng=np.random.default_rng(8), Z_sorted=Z_sorted,
                     offset_sorted=off)
    assert got.shape == (N_DRAWS, pieces.n_levels, q)
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-10)


def test_chunks_cover_every_draw_once() -> None:
    _, _, pieces = _setup("car1", 2, 0)
    parts = list(chunks(1000, pieces, "car1"))
    covered = np.concatenate([np.arange(1000)[s] for s in parts])
    np.testing.assert_array_equal(covered, np.arange(1000))
