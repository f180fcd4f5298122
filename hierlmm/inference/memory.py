"""The memory a fit's draws will take, checked before anything is compiled or sampled.

``draws`` and ``chains`` are bounded by :data:`hierlmm.options.MAX_DRAWS` and
:data:`hierlmm.options.MAX_CHAINS`; within those bounds a model with many effects can
still ask for more memory than the machine has (the sampler then aborts the process).
:func:`check_draws_memory` refuses such a fit with an error naming the options.
"""

from __future__ import annotations

import os

from hierlmm.engines.base import Engine
from hierlmm.errors import SpecError
from hierlmm.model.identifiability import variance_parameters

MEMORY_FRACTION = 0.5  # of the machine's physical memory that the draws may fill
BYTES_PER_VALUE = 8  # float64


def values_per_draw(plan: Engine) -> int:
    """Numbers stored per posterior draw: beta, family parameters, SDs, correlations and
    the effects of every sampled factor (an integrated factor's effects are thinned to a
    fixed budget, so they do not count)."""
    effects = sum(g.n_levels * g.q for g in plan.sampled_groups)
    return plan.design.p + variance_parameters(plan.design, plan.family) + effects


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
        return None


def check_draws_memory(plan: Engine, draws: int, chains: int) -> None:
    """Raise :class:`SpecError` if ``chains * draws`` draws would not fit in memory.

    Parameters
    ----------
    plan : Engine
        The engine bound to the design (gives the number of values per draw).
    draws, chains : int
        Posterior draws per chain and number of chains.

    Raises
    ------
    SpecError
        Naming ``draws`` and ``chains``, the memory needed and the memory available, when
        the draws would fill more than :data:`MEMORY_FRACTION` of physical memory.
    """
    total = physical_memory()
    if total is None:
        return
    values = values_per_draw(plan)
    needed = chains * draws * values * BYTES_PER_VALUE
    if needed > MEMORY_FRACTION * total:
        gib = 2.0**30
        raise SpecError(
            f"draws={draws} x chains={chains} would store {needed / gib:.1f} GiB of posterior "
            f"draws ({values} values per draw), more than {MEMORY_FRACTION:.0%} of this "
            f"machine's {total / gib:.1f} GiB memory; lower draws or chains"
        )
