"""InterruptGuard turns a swallowed Ctrl-C into KeyboardInterrupt."""

from __future__ import annotations

import os
import signal
import sys
import time
import weakref

import pytest

from hierlmm.inference.interrupts import InterruptGuard


def sampler_that_swallows_ctrl_c() -> str:
    """Like pm.sample / nutpie.sample: catch KeyboardInterrupt, return partial draws."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler raises KeyboardInterrupt before this ends
    except KeyboardInterrupt:
        return "partial draws"
    return "complete draws"


def test_swallowed_interrupt_is_raised_again() -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), InterruptGuard() as guard:
        assert sampler_that_swallows_ctrl_c() == "partial draws"
    assert guard.interrupted
    assert signal.getsignal(signal.SIGINT) is before  # handler restored


def test_error_after_an_interrupt_becomes_keyboard_interrupt() -> None:
    with pytest.raises(KeyboardInterrupt) as info, InterruptGuard():
        sampler_that_swallows_ctrl_c()
        raise IndexError("partial trace")  # what later steps did on partial draws
    assert isinstance(info.value.__cause__, IndexError)


def test_no_interrupt_changes_nothing() -> None:
    with InterruptGuard() as guard:
        value = 1 + 1
    assert value == 2 and not guard.interrupted
    with pytest.raises(ValueError), InterruptGuard():
        raise ValueError("an ordinary error passes through")


def test_interrupts_that_land_in_garbage_collector_callbacks_are_not_printed(
    monkeypatch,
) -> None:
    """A repeated interrupt landing in a weakref callback was printed by the CLI as
    'Exception ignored in: ... KeyboardInterrupt'; other errors there still are."""
    reported: list = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)

    class Thing:
        pass

    def raising(error: BaseException):
        def callback(_reference) -> None:
            raise error
        return callback

    with pytest.raises(KeyboardInterrupt), InterruptGuard():
        sampler_that_swallows_ctrl_c()
        first, second = Thing(), Thing()
        refs = [weakref.ref(first, raising(KeyboardInterrupt())),
                weakref.ref(second, raising(ValueError("kept")))]
        del first, second  # both callbacks run now, where nothing can be raised
    assert [type(r.exc_value) for r in reported] == [ValueError]
    assert sys.unraisablehook == reported.append and len(refs) == 2
