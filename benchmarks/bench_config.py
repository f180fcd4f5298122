"""Peers, datasets and run settings shared by ``run.py`` (parent) and ``peers.py`` (child).

Every job fits ``y ~ x + (x | g)``. Datasets are generated inside the child, before the
clock starts, so the timings cover model build + compile + sampling only.
"""

from __future__ import annotations

from dataclasses import dataclass

FORMULA = "y ~ x + (x | g)"
SEED = 1  # sampler seed of every Bayesian peer
DATA_SEED = 20_240_601  # seed of the simulated designs

PEERS = ("hierlmm-collapsed", "hierlmm-sampled", "bambi", "statsmodels")
BAYESIAN_PEERS = ("hierlmm-collapsed", "hierlmm-sampled", "bambi")

# name -> (n_groups, n_per_group); None = the classic sleepstudy data (18 x 10).
DATASETS: dict[str, tuple[int, int] | None] = {
    "sleepstudy": None,
    "sim200": (200, 10),
    "sim1k": (1_000, 10),
    "sim10k": (10_000, 20),
    "sim100k": (100_000, 10),
    "ar1k": (1_000, 20),
}
# AR(1) residual designs (x is the visit number 0..19 within g): name -> true phi. Only the
# hierlmm peers fit AR(1) residuals; the others are not run on these designs.
AR_DATASETS: dict[str, float] = {"ar1k": 0.6}
AR_PEERS = ("hierlmm-collapsed", "hierlmm-sampled")
PHI_PARAM = "phi"
FULL_DATASETS = ("sleepstudy", "sim1k", "sim10k", "sim100k", "ar1k")
QUICK_DATASETS = ("sleepstudy", "sim200")

# Canonical parameter names (hierlmm's summary row names); every peer reports these keys.
FIXED_PARAMS = ("Intercept", "x")
RE_SD_PARAMS = ("sd(Intercept|g)", "sd(x|g)")
CORR_PARAM = "corr(Intercept,x|g)"
SIGMA_PARAM = "sigma"
ALL_PARAMS = (*FIXED_PARAMS, *RE_SD_PARAMS, CORR_PARAM, SIGMA_PARAM)

# Text that marks an allocation failure in an exception message or a child's log.
MEMORY_MARKERS = ("MemoryError", "Unable to allocate", "Cannot allocate memory",
                  "out of memory", "bad_alloc", "memory allocation of",
                  "failed to map segment")


@dataclass(frozen=True)
class Settings:
    """MCMC and limit settings of one benchmark run.

    Attributes
    ----------
    draws, tune, chains : int
        Posterior draws and warm-up iterations per chain; number of chains.
    timeout_s : float
        Wall-clock limit of one job (child process), seconds.
    mem_gb : float
        Address-space cap of one job (``RLIMIT_AS``), GiB.
    """

    draws: int
    tune: int
    chains: int
    timeout_s: float
    mem_gb: float


FULL = Settings(draws=1000, tune=1000, chains=4, timeout_s=600.0, mem_gb=12.0)
QUICK = Settings(draws=300, tune=300, chains=2, timeout_s=120.0, mem_gb=12.0)
