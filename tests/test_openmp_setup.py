"""hierlmm shortens GNU OpenMP's spin-wait at its first model build, unless the user chose."""

from __future__ import annotations

import os

import pytest

from hierlmm._openmp_setup import SPIN_COUNT, USER_CHOICES, configure_openmp
from hierlmm._pytensor_setup import configure


@pytest.fixture
def no_choice(monkeypatch):
    for name in USER_CHOICES:
        monkeypatch.delenv(name, raising=False)


def test_the_spin_count_is_set_when_the_user_chose_nothing(no_choice) -> None:
    configure_openmp()
    assert os.environ["GOMP_SPINCOUNT"] == SPIN_COUNT == "10000"


@pytest.mark.parametrize(("name", "value"), [("OMP_WAIT_POLICY", "ACTIVE"),
                                             ("GOMP_SPINCOUNT", "300000")])
def test_a_users_choice_is_kept(no_choice, monkeypatch, name, value) -> None:
    monkeypatch.setenv(name, value)
    configure_openmp()
    assert os.environ[name] == value
    assert {n for n in USER_CHOICES if n in os.environ} == {name}  # nothing added


def test_the_pytensor_set_up_sets_it_first(no_choice) -> None:
    """``configure`` (cached: once per process) runs it; called again unwrapped here."""
    configure.__wrapped__()
    assert os.environ["GOMP_SPINCOUNT"] == SPIN_COUNT
