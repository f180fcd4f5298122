"""Short text and HTML descriptions of a fit, for the console and for notebooks.

:func:`fit_facts` gathers what a reader wants first (formula, data size, groups, engine,
sampler, draws, timings and convergence) as ordered ``(label, text)`` pairs;
:func:`facts_text` and :func:`facts_html` lay them out. ``Fit.__repr__`` and
``Fit._repr_html_`` call them, so both show the same facts.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from hierlmm.design.design import Design

TITLE = "hierlmm Fit"


def convergence_status(problems: Sequence[str]) -> str:
    """``"converged"``, or ``"not converged: "`` and the failed checks joined by ``"; "``.

    Parameters
    ----------
    problems : sequence of str
        :func:`hierlmm.inference.diagnostics.convergence_problems` of the fit.
    """
    return "not converged: " + "; ".join(problems) if problems else "converged"


def groups_text(design: Design) -> str:
    """``"Subject (18 levels)"``, one entry per grouping factor; ``"none"`` without any."""
    parts = [f"{g.factor} ({g.n_levels} levels)" for g in design.groups]
    return ", ".join(parts) if parts else "none"


def observations_text(design: Design) -> str:
    """``"180"``, or ``"177 (3 rows with missing values dropped)"``."""
    dropped = design.n_dropped
    return f"{design.n}" + (f" ({dropped} rows with missing values dropped)" if dropped else "")


def _time(timings: dict[str, float]) -> str:
    """``"3.21 s total, 1.05 s compiling"``; ``"not recorded"`` when the fit has no timings."""
    parts = []
    if "total_s" in timings:
        parts.append(f"{timings['total_s']:.2f} s total")
    if "compile_s" in timings:
        parts.append(f"{timings['compile_s']:.2f} s compiling")
    return ", ".join(parts) if parts else "not recorded"


def fit_facts(fit: Any, problems: Sequence[str] | None) -> list[tuple[str, str]]:
    """The facts shown by ``repr(fit)``, in display order.

    Parameters
    ----------
    fit : Fit
        Read through its attributes (this module cannot import the class: ``Fit`` uses it).
    problems : sequence of str or None
        The fit's convergence problems (empty when it converged); None when the fit has
        no sampler statistics to judge it by.

    Returns
    -------
    list of (str, str)
        ``formula, observations, groups, engine, sampler, draws, time, convergence``.
    """
    posterior = fit.idata["posterior"]
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    status = "unknown (no sample_stats)" if problems is None else convergence_status(problems)
    return [
        ("formula", fit.spec.formula),
        ("observations", observations_text(fit.design)),
        ("groups", groups_text(fit.design)),
        ("engine", str(fit.engine)),
        ("sampler", str(fit.sampler)),
        ("draws", f"{chains} chains x {draws} draws" + _thinned(fit.settings)),
        ("time", _time(fit.timings)),
        ("convergence", status),
    ]


def _thinned(settings: dict) -> str:
    """`` (one in 4 of 4,000 kept)`` for a thinned run (the independence sampler's redo
    of a narrow miss), else empty."""
    thin = settings.get("thin", 1)
    return f" (one in {thin} of {thin * settings['draws']:,} kept)" if thin > 1 else ""


def facts_text(facts: list[tuple[str, str]]) -> str:
    """The title, then one ``label  text`` line per fact with the labels aligned."""
    width = max(len(label) for label, _ in facts)
    return "\n".join([f"<{TITLE}>"] + [f"  {label:<{width}}  {text}" for label, text in facts])


def facts_html(facts: list[tuple[str, str]]) -> str:
    """A two-column HTML table of the facts (every text escaped), captioned with the title."""
    rows = "".join(
        f"<tr><th style=\"text-align:left\">{html.escape(label)}</th>"
        f"<td style=\"text-align:left\">{html.escape(text)}</td></tr>"
        for label, text in facts
    )
    return f'<table class="hierlmm-fit"><caption>{TITLE}</caption>{rows}</table>'
