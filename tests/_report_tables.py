"""Read the data tables of report.html back and compare them with the report tables.

:func:`check_report_tables` is the one check used by the HTML and model-file tests: every
cell of the variance, ICC, shrinkage and frequentist tables on the page must equal the
value of the corresponding :mod:`hierlmm.report` table printed at the page's precision
(four significant digits, thousands with separators, ESS as whole counts).
"""

from __future__ import annotations

import math
from html.parser import HTMLParser

import numpy as np
import pandas as pd

from hierlmm.document.html import format_count, format_number
from hierlmm.report.frequentist import frequentist_comparison
from hierlmm.report.shrinkage import shrinkage
from hierlmm.report.variance import icc, variance_components


class _Tables(HTMLParser):
    """``{section id: [(header, rows)]}`` of every ``<table class="data">``."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list] = {}
        self._section = None
        self._table = None
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._section = attrs["id"]
            self.sections[self._section] = []
        elif tag == "table" and "data" in (attrs.get("class") or ""):
            self._table = {"header": [], "rows": []}
        elif self._table is not None and tag == "tr":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            target = self._table["rows"] if self._table["header"] else self._table["header"]
            target.extend([self._row] if target is self._table["rows"] else self._row)
            self._row = None
        elif tag == "table" and self._table is not None:
            self.sections[self._section].append((self._table["header"], self._table["rows"]))
            self._table = None


def page_tables(page: str) -> dict[str, list[tuple[list[str], list[list[str]]]]]:
    """Data tables of a report page by section id: ``[(header, rows of cell text)]``."""
    parser = _Tables()
    parser.feed(page)
    return parser.sections


def printed(value, column: str) -> str:
    """``value`` as report.html prints it in ``column``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return format_count(value) if column.endswith("ess_bulk") else format_number(value)
    return str(value)


def expected_tables(fit, prob: float = 0.9) -> dict[str, list[pd.DataFrame]]:
    """The report tables each checked section shows (computed afresh from the fit)."""
    return {
        "variance": [variance_components(fit, prob), icc(fit, prob)],
        "shrinkage": [shrinkage(fit, g.factor, prob) for g in fit.design.groups[:3]],
        # statsmodels compares Gaussian models only; GLMMs skip the section
        "frequentist": ([frequentist_comparison(fit, prob)]
                        if fit.spec.link_name == "identity" else []),
    }


def check_report_tables(page: str, fit, prob: float = 0.9) -> int:
    """Assert every cell of the checked sections equals its report table; return cells."""
    on_page = page_tables(page)
    checked = 0
    for section, frames in expected_tables(fit, prob).items():
        shown = on_page[section]
        frames = [f for f in frames if not f.empty]
        assert len(shown) == len(frames), (section, len(shown), len(frames))
        for (header, rows), frame in zip(shown, frames, strict=True):
            assert set(header) <= set(frame.columns), (section, header)
            limit = 10 if section == "shrinkage" else len(frame)  # shrinkage: first 10
            assert rows and len(rows) == min(len(frame), limit), (section, len(rows))
            for i, row in enumerate(rows):
                expected = [printed(frame.iloc[i][c], c) for c in header]
                assert row == expected, (section, header, i, row, expected)
                checked += len(row)
    return checked
