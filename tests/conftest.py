"""Fixtures shared across the test suite (keep this file small)."""

from __future__ import annotations

import pandas as pd
import pytest

import hierlmm


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    """lme4's sleepstudy: 180 rows, ``Reaction, Days, Subject`` (18 subjects).

    Shared by the whole session: treat it as read-only and ``.copy()`` it before changing it.
    """
    return hierlmm.datasets.load("sleepstudy")
