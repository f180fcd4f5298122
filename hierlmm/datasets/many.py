"""Seeded simulators of many outcomes sharing one design, with known per-outcome truth.

For :func:`hierlmm.fit_many`: genes, voxels or items measured on the same rows. Each
outcome draws its own fixed effects and variance components; a known fraction
(``null_fraction``) of the outcomes has a zero effect of the covariate of interest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hierlmm.datasets._checks import Seed, count, labels, make_rng, scale
from hierlmm.errors import SpecError


@dataclass(frozen=True)
class SimulatedOutcomes:
    """Rows shared by every outcome, the outcomes and their truth.

    Attributes
    ----------
    data : pandas.DataFrame, shape (n, k)
        The design columns (no response).
    outcomes : pandas.DataFrame, shape (n, m)
        One column per outcome (``"o0000"``, ...), rows aligned with ``data``.
    truth : pandas.DataFrame, shape (m, t)
        One row per outcome: the true fixed effects (columns named as the fixed terms),
        SDs ``sd(<term>|<factor>)``, correlation ``corr(Intercept,<slope>|<factor>)``
        where present, ``sigma`` and ``null`` (whether the effect of interest is zero).
    formula : str
        The model formula with the placeholder response ``y``.
    effect : str
        The fixed term whose effect is zero for the ``null`` outcomes.
    """

    data: pd.DataFrame
    outcomes: pd.DataFrame
    truth: pd.DataFrame
    formula: str
    effect: str


def _fraction(value: float) -> float:
    value = scale("null_fraction", value)
    if value > 1:
        raise SpecError(f"null_fraction={value!r} must lie in [0, 1]")
    return value


def _effects(rng: np.random.Generator, m: int, null_fraction: float, size: float) -> tuple:
    null = rng.random(m) < null_fraction
    effect = np.where(null, 0.0, rng.normal(0.0, size, m))
    return effect, null


def simulate_many_sleepstudy(
    n_outcomes: int = 1000, *, n_subjects: int = 18, n_days: int = 10,
    null_fraction: float = 0.5, seed: Seed = 0,
) -> SimulatedOutcomes:
    """Subjects x days with a correlated random intercept and slope per outcome.

    Model per outcome ``j``: ``y = b0 + b1 Days + u0[Subject] + u1[Subject] Days + e`` with
    ``b0 ~ N(0, 2)``, ``b1 = 0`` (probability ``null_fraction``) or ``N(0, 0.3)``,
    ``sd(Intercept) ~ U(0.3, 1.5)``, ``sd(Days) ~ U(0.05, 0.3)``, ``corr ~ U(-0.5, 0.5)``
    and ``sigma ~ U(0.5, 1.5)``.

    Examples
    --------
    >>> sim = simulate_many_sleepstudy(5, seed=1)
    >>> sim.outcomes.shape, sim.formula
    ((180, 5), 'y ~ Days + (Days | Subject)')
    """
    m, n_sub, n_day = (count(k, v) for k, v in (("n_outcomes", n_outcomes),
                                                ("n_subjects", n_subjects), ("n_days", n_days)))
    rng = make_rng(seed)
    subject = np.repeat(np.arange(n_sub), n_day)
    days = np.tile(np.arange(n_day, dtype=float), n_sub)
    data = pd.DataFrame({"Subject": np.asarray(labels("s", n_sub))[subject], "Days": days})
    b1, null = _effects(rng, m, _fraction(null_fraction), 0.3)
    truth = pd.DataFrame({
        "Intercept": rng.normal(0.0, 2.0, m), "Days": b1,
        "sd(Intercept|Subject)": rng.uniform(0.3, 1.5, m),
        "sd(Days|Subject)": rng.uniform(0.05, 0.3, m),
        "corr(Intercept,Days|Subject)": rng.uniform(-0.5, 0.5, m),
        "sigma": rng.uniform(0.5, 1.5, m), "null": null,
    }, index=pd.Index([f"o{j:04d}" for j in range(m)], name="outcome"))
    y = np.empty((data.shape[0], m))
    for j, row in enumerate(truth.itertuples(index=False)):
        sd0, sd1, r = row[2], row[3], row[4]
        cov = np.array([[sd0**2, r * sd0 * sd1], [r * sd0 * sd1, sd1**2]])
        u = rng.multivariate_normal(np.zeros(2), cov, size=n_sub)
        mean = row[0] + row[1] * days + u[subject, 0] + u[subject, 1] * days
        y[:, j] = mean + rng.normal(0.0, row[5], data.shape[0])
    outcomes = pd.DataFrame(y, columns=truth.index)
    return SimulatedOutcomes(data, outcomes, truth, "y ~ Days + (Days | Subject)", "Days")


def simulate_many_nested(
    n_outcomes: int = 1000, *, n_donors: int = 12, samples_per_donor: int = 6,
    null_fraction: float = 0.5, seed: Seed = 0,
) -> SimulatedOutcomes:
    """Samples nested in donors, a two-level ``condition`` varying within donors.

    Model per outcome: ``y = b0 + b1 condition + u[donor] + e``, half of each donor's
    samples treated, ``b0 ~ N(0, 2)``, ``b1 = 0`` (probability ``null_fraction``) or
    ``N(0, 1)``, ``sd(Intercept|donor) ~ U(0.2, 2)`` and ``sigma ~ U(0.5, 1.5)``.

    Examples
    --------
    >>> sim = simulate_many_nested(3, seed=1)
    >>> sim.outcomes.shape, sim.formula
    ((72, 3), 'y ~ condition + (1 | donor)')
    """
    m, n_don, per = (count(k, v) for k, v in (("n_outcomes", n_outcomes),
                                              ("n_donors", n_donors),
                                              ("samples_per_donor", samples_per_donor)))
    rng = make_rng(seed)
    donor = np.repeat(np.arange(n_don), per)
    condition = np.tile((np.arange(per) % 2).astype(float), n_don)
    data = pd.DataFrame({"donor": np.asarray(labels("d", n_don))[donor],
                         "sample": [f"x{i:04d}" for i in range(donor.size)],
                         "condition": condition})
    b1, null = _effects(rng, m, _fraction(null_fraction), 1.0)
    truth = pd.DataFrame({
        "Intercept": rng.normal(0.0, 2.0, m), "condition": b1,
        "sd(Intercept|donor)": rng.uniform(0.2, 2.0, m),
        "sigma": rng.uniform(0.5, 1.5, m), "null": null,
    }, index=pd.Index([f"o{j:04d}" for j in range(m)], name="outcome"))
    u = rng.normal(size=(n_don, m)) * truth["sd(Intercept|donor)"].to_numpy()
    noise = rng.normal(size=(donor.size, m)) * truth["sigma"].to_numpy()
    y = truth["Intercept"].to_numpy() + np.outer(condition, b1) + u[donor] + noise
    outcomes = pd.DataFrame(y, columns=truth.index)
    return SimulatedOutcomes(data, outcomes, truth, "y ~ condition + (1 | donor)", "condition")
