"""The AR(1)/CAR(1) simulator: seeded, shapes, truth, and the residual correlation."""

from __future__ import annotations

import numpy as np
import pytest

from hierlmm.datasets import simulate_autocorrelated
from hierlmm.errors import SpecError


def _residuals(sim) -> np.ndarray:
    """y minus the true subject line, in (subject, time) order, shape (G, T)."""
    d = sim.data.sort_values(["subject", "time"])
    eff = sim.truth["effects"].loc[d["subject"]].to_numpy()
    b = sim.truth["beta"]
    line = (b["Intercept"] + eff[:, 0]) + (b["time"] + eff[:, 1]) * d["time"].to_numpy()
    G = sim.data["subject"].nunique()
    return (d["y"].to_numpy() - line).reshape(G, -1), d["time"].to_numpy().reshape(G, -1)


@pytest.mark.parametrize("phi", [0.6, -0.3])
def test_ar1_lag_correlations(phi: float) -> None:
    sim = simulate_autocorrelated(n_groups=4000, n_per_group=6, phi=phi, sigma=2.0, seed=1)
    e, _ = _residuals(sim)
    assert e.std() == pytest.approx(2.0, rel=0.02)
    for lag in (1, 2):
        r = np.corrcoef(e[:, :-lag].ravel(), e[:, lag:].ravel())[0, 1]
        assert r == pytest.approx(phi**lag, abs=0.03)


def test_car1_irregular_times_correlation() -> None:
    sim = simulate_autocorrelated(n_groups=4000, n_per_group=6, phi=0.5, kind="car1",
                                  times="irregular", seed=2)
    e, t = _residuals(sim)
    gap = np.diff(t, axis=1)
    assert gap.min() >= 0.2 and gap.max() <= 2.0
    # E[e_t e_{t-1} | gap] = 0.5 ** gap: the regression of e_t on 0.5**gap * e_{t-1}
    x = (0.5**gap * e[:, :-1]).ravel()
    slope = float(x @ e[:, 1:].ravel() / (x @ x))
    assert slope == pytest.approx(1.0, abs=0.05)
    assert sim.truth["residual"] == {"kind": "car1", "time": "time", "group": "subject",
                                     "gaps": "error"}


def test_gaps_shuffle_and_seed() -> None:
    a = simulate_autocorrelated(n_groups=5, n_per_group=6, times="gaps", shuffle=True, seed=3)
    b = simulate_autocorrelated(n_groups=5, n_per_group=6, times="gaps", shuffle=True, seed=3)
    assert a.data.equals(b.data) and a.data.shape == (30, 3)
    assert a.truth["residual"]["gaps"] == "order"
    times = a.data.sort_values(["subject", "time"])["time"].to_numpy().reshape(5, 6)
    assert (np.diff(times, axis=1) >= 1).all() and (np.diff(times, axis=1) > 1).any()
    assert not a.data["subject"].is_monotonic_increasing
    with pytest.raises(SpecError, match=r"phi=1.0 must lie in \(-1, 1\)"):
        simulate_autocorrelated(phi=1.0, seed=1)
    with pytest.raises(SpecError, match="times='weekly' is not recognised"):
        simulate_autocorrelated(times="weekly", seed=1)
