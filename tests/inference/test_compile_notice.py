"""The compile notice: shown on terminals and in notebooks once compiling runs past the
threshold, never with progress=False. No timing assertions: the threshold is forced to 0
and the block waits until the notice has appeared."""

from __future__ import annotations

import io
import threading

import pytest
from rich.console import Console

import hierlmm
from hierlmm.inference import compile_notice as notice_module
from hierlmm.inference.compile_notice import compile_notice


@pytest.fixture
def appeared(monkeypatch) -> threading.Event:
    """Set once the notice has been shown (wraps the module's ``_show``)."""
    event = threading.Event()
    show = notice_module._show

    def recording(started: float):
        shown = show(started)
        event.set()
        return shown

    monkeypatch.setattr(notice_module, "_show", recording)
    return event


def test_terminal_gets_a_spinner_then_one_line(monkeypatch, appeared) -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100)
    monkeypatch.setattr(notice_module, "in_notebook", lambda: False)
    monkeypatch.setattr(notice_module, "terminal_console", lambda: console)
    with compile_notice(enabled=True, after_s=0.0):
        assert appeared.wait(10)
    text = stream.getvalue()
    assert "Compiling the model" in text  # the spinner's line
    assert "Compiled the model in " in text.rstrip().splitlines()[-1]  # after cursor codes


class _Handle:
    def __init__(self, shown: list[str]) -> None:
        self.shown = shown

    def update(self, obj) -> None:
        self.shown.append(obj.data)


def test_notebook_gets_a_line_updated_in_place(monkeypatch, appeared) -> None:
    import IPython.display

    shown: list[str] = []

    def display(obj, display_id=False):
        assert display_id is True
        shown.append(obj.data)
        return _Handle(shown)

    monkeypatch.setattr(notice_module, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", display)
    with compile_notice(enabled=True, after_s=0.0):
        assert appeared.wait(10)
    assert shown[0].startswith("Compiling the model")
    assert shown[-1].startswith("Compiled the model in ")


def test_nothing_when_not_a_terminal_or_disabled(monkeypatch, appeared) -> None:
    monkeypatch.setattr(notice_module, "in_notebook", lambda: False)
    monkeypatch.setattr(notice_module, "terminal_console", lambda: None)
    with compile_notice(enabled=True, after_s=0.0):
        assert appeared.wait(10)  # shown: but nowhere to show it, so nothing is written
    appeared.clear()
    with compile_notice(enabled=False, after_s=0.0):
        assert not appeared.wait(0.2)


def test_fit_passes_its_progress_flag(monkeypatch, sleepstudy) -> None:
    from hierlmm.inference import fit as fit_module

    seen: list[bool] = []
    real = fit_module.compile_notice

    def recording(enabled: bool, **kwargs):
        seen.append(enabled)
        return real(enabled, **kwargs)

    monkeypatch.setattr(fit_module, "compile_notice", recording)
    for progress in (False, True):
        hierlmm.fit("Reaction ~ Days + (1 | Subject)", sleepstudy, draws=20, tune=20, chains=1,
                    seed=1, progress=progress, warn_convergence=False)
    assert seen == [False, True]
