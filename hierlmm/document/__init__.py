"""The self-contained ``report.html`` of a fit: report tables and their figures.

This is the presentation layer above :mod:`hierlmm.report` (tables) and
:mod:`hierlmm.plots` (figures): it combines both into one HTML page and a folder of PNG
files. Nothing below it imports it.

>>> from hierlmm.document import write_report
>>> write_report(fit, "out/")  # doctest: +SKIP
"""

from __future__ import annotations

from hierlmm.document.html import build_report, write_report

__all__ = ["build_report", "write_report"]
