"""Fixtures shared across the test suite: data sets and one real fit per standard design.

Fitting is the expensive part of the suite, so every module that needs a real fit of a
standard design takes it from here instead of refitting it: one session-wide fit each of

- ``sleep_fit``: ``Reaction ~ Days + (Days | Subject)`` on sleepstudy (collapsed engine);
- ``sleep_intercept_fit``: ``Reaction ~ Days + (1 | Subject)``;
- ``crossed_fit``: Penicillin, ``diameter ~ 1 + (1 | plate) + (1 | sample)``;
- ``nested_fit``: a Pastes-like simulation, ``strength ~ 1 + (1 | batch/cask)``;
- ``large_collapsed_fit``: ``sleep_fit``'s model and seed with the collapsed effects
  above their memory budget (thinned exact draws in ``posterior_effects``).

They are shared by the whole session: treat them as read-only. Every draw count and seed
is in :data:`FIT_KW`; tests read shapes from the fit, never from a literal.

The whole session runs report sections in strict mode (``HIERLMM_STRICT_REPORT=1``): a
section that fails raises instead of becoming a "could not be produced" note, so a broken
section fails the model-file and HTML tests. Tests of the note itself turn it off.

``make test`` runs the suite on two pytest-xdist workers, one test file per work unit
(``--dist loadfile``, so module fixtures are built once; each worker builds the session
fits it needs). :func:`pytest_collection_modifyitems` puts the files with slow tests
first, so the longest files start first and the two workers finish close together.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import hierlmm

os.environ["HIERLMM_STRICT_REPORT"] = "1"
if os.environ.get("PYTEST_XDIST_WORKER"):
    # the workers fill every core, so numba's OpenMP threads must not spin while they
    # wait (GNU OpenMP's default): they would take the cores from the other worker's
    # work. A quadrature fit (Poisson, 200 groups, 4 x 1,000 draws) beside a busy core:
    # 37-59 s spinning, 16-19 s passive, 6.5 s alone. Set before numba loads OpenMP (its
    # first parallel kernel); inherited by the suite's subprocesses.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # likewise one BLAS thread per worker (OpenBLAS's threads spin too): for this
    # process (numpy is loaded already) and, through the environment, its subprocesses
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    threadpool_limits(1, user_api="blas")

#: Sampler settings of the shared fits (2 chains x 500 draws: enough for 90% intervals).
FIT_KW = dict(draws=500, tune=500, chains=2, seed=1, progress=False, warn_convergence=False)
SLEEP_FORMULA = "Reaction ~ Days + (Days | Subject)"
#: The effects budget of ``large_collapsed_fit``: 18 levels x 2 terms x 2 chains x 100 draws.
LARGE_BUDGET = 18 * 2 * 2 * 100


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the files with ``slow`` tests first (stable otherwise): longest work first."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    """lme4's sleepstudy: 180 rows, ``Reaction, Days, Subject`` (18 subjects).

    Shared by the whole session: treat it as read-only and ``.copy()`` it before changing it.
    """
    return hierlmm.datasets.load("sleepstudy")


@pytest.fixture(scope="session")
def sleep_fit(sleepstudy) -> hierlmm.Fit:
    """``Reaction ~ Days + (Days | Subject)``, default (collapsed) engine, :data:`FIT_KW`."""
    return hierlmm.fit(SLEEP_FORMULA, sleepstudy, **FIT_KW)


@pytest.fixture(scope="session")
def sleep_intercept_fit(sleepstudy) -> hierlmm.Fit:
    """``Reaction ~ Days + (1 | Subject)``, default engine, :data:`FIT_KW`."""
    return hierlmm.fit("Reaction ~ Days + (1 | Subject)", sleepstudy, **FIT_KW)


@pytest.fixture(scope="session")
def crossed_fit() -> hierlmm.Fit:
    """Penicillin (24 plates crossed with 6 samples), :data:`FIT_KW`."""
    return hierlmm.fit("diameter ~ 1 + (1 | plate) + (1 | sample)",
                       hierlmm.datasets.load("penicillin"), **FIT_KW)


@pytest.fixture(scope="session")
def pastes_data() -> pd.DataFrame:
    """Pastes-like: 10 batches x 3 casks x 2 samples (``strength, batch, cask``), seeded."""
    sim = hierlmm.datasets.simulate_nested(n_schools=10, classes_per_school=3,
                                           students_per_class=2, sd_school=1.3,
                                           sd_class=2.9, sigma=0.8, beta=(60.0, 0.0), seed=1)
    return sim.data.rename(columns={"school": "batch", "class": "cask", "score": "strength"})


@pytest.fixture(scope="session")
def nested_fit(pastes_data) -> hierlmm.Fit:
    """``strength ~ 1 + (1 | batch/cask)`` on :func:`pastes_data`, :data:`FIT_KW`."""
    return hierlmm.fit("strength ~ 1 + (1 | batch/cask)", pastes_data, **FIT_KW)


@pytest.fixture(scope="session")
def large_collapsed_fit(sleepstudy) -> hierlmm.Fit:
    """``sleep_fit`` refitted with the effects budget at :data:`LARGE_BUDGET` cells.

    Same model, data, seed and settings as ``sleep_fit``, so its parameter draws are
    ``sleep_fit``'s; the effects are exact draws for an evenly thinned 100 of 500 draws.
    """
    from hierlmm.engines.collapsed import effects

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(effects, "EFFECTS_BUDGET", LARGE_BUDGET)
        return hierlmm.fit(SLEEP_FORMULA, sleepstudy, **FIT_KW)
