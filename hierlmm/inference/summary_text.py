"""The summary table as aligned, rounded text (``print(fit.summary())``, the CLI).

One line per parameter: mean, SD and the central interval ``[lower, upper]`` rounded to
the same decimals, those that give the SD three significant digits (as lme4 rounds by
the standard error), R-hat to three decimals and the bulk ESS as an integer, so that the
table of a model with correlated slopes fits in 80 columns.
"""

from __future__ import annotations

import html
import math

import pandas as pd

#: columns the text needs besides the two interval bounds
TEXT_COLUMNS = ("mean", "sd", "rhat", "ess_bulk")


def format_number(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits; ``"nan"`` when missing or infinite.

    Examples
    --------
    >>> format_number(4849.463826), format_number(0.0657321), format_number(float("nan"))
    ('4849', '0.06573', 'nan')
    """
    if value is None or not math.isfinite(value):
        return "nan"
    return f"{value:.{digits}g}"


def row_decimals(sd: float, significant: int = 3, most: int = 6) -> int | None:
    """Decimals that give ``sd`` ``significant`` digits, within [0, most]; None if sd <= 0.

    Examples
    --------
    >>> row_decimals(7.705), row_decimals(0.262), row_decimals(512.0), row_decimals(0.0)
    (2, 3, 0, None)
    """
    if not math.isfinite(sd) or sd <= 0:
        return None
    return min(max(significant - 1 - math.floor(math.log10(sd)), 0), most)


def _rounded(value: float, decimals: int | None) -> str:
    if decimals is None or not math.isfinite(value):
        return format_number(value)
    return f"{value:.{decimals}f}"


def _ess(value: float) -> str:
    return f"{value:.0f}" if math.isfinite(value) else "nan"


def _rhat(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "nan"


def format_summary(table: pd.DataFrame, prob: float, lo: str, hi: str) -> str:
    """Aligned text of a summary table: parameter, mean, sd, interval, rhat, ess_bulk.

    Parameters
    ----------
    table : pandas.DataFrame, shape (k, ...)
        :func:`hierlmm.inference.summary.summary_table` (or rows of it): index
        ``parameter``, columns ``mean, sd, <lo>, <hi>, rhat, ess_bulk``.
    prob : float
        Mass of the interval, shown in its header (``"90% interval"``).
    lo, hi : str
        Names of the interval columns.

    Returns
    -------
    str
        A header line, a rule, then one line per row; ``k + 2`` lines.

    Examples
    --------
    >>> table = pd.DataFrame({"mean": [251.4051], "sd": [6.8246], "q05": [240.1],
    ...                       "q95": [262.77], "rhat": [1.0012], "ess_bulk": [4849.46]},
    ...                      index=pd.Index(["Intercept"], name="parameter"))
    >>> print(format_summary(table, 0.9, "q05", "q95"))
    parameter    mean    sd      90% interval   rhat  ess_bulk
    ----------------------------------------------------------
    Intercept  251.41  6.82  [240.10, 262.77]  1.001      4849
    """
    rows = summary_rows(table, prob, lo, hi)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def summary_rows(table: pd.DataFrame, prob: float, lo: str, hi: str) -> list[tuple[str, ...]]:
    """The header and one row of rounded cells per parameter (see :func:`format_summary`).

    Returns
    -------
    list of tuple of str
        ``k + 1`` rows of six cells: parameter, mean, sd, interval, rhat, ess_bulk.
    """
    rows = [("parameter", "mean", "sd", f"{prob:.0%} interval", "rhat", "ess_bulk")]
    for name, row in table.iterrows():
        decimals = row_decimals(row["sd"])
        rows.append((
            str(name),
            _rounded(row["mean"], decimals),
            _rounded(row["sd"], decimals),
            f"[{_rounded(row[lo], decimals)}, {_rounded(row[hi], decimals)}]",
            _rhat(row["rhat"]),
            _ess(row["ess_bulk"]),
        ))
    return rows


def summary_html(table: pd.DataFrame, prob: float, lo: str, hi: str) -> str:
    """The rounded summary as an HTML table (cells escaped), for notebooks.

    Examples
    --------
    >>> table = pd.DataFrame({"mean": [1.0], "sd": [0.5], "q05": [0.2], "q95": [1.8],
    ...                       "rhat": [1.0], "ess_bulk": [812.3]}, index=["a<b"])
    >>> summary_html(table, 0.9, "q05", "q95")[:60]
    '<table class="hierlmm-summary"><tr><th>parameter</th><th>mea'
    """
    header, *body = summary_rows(table, prob, lo, hi)
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    lines = "".join(
        f'<tr><th style="text-align:left">{html.escape(row[0])}</th>'
        + "".join(f'<td style="text-align:right">{html.escape(c)}</td>' for c in row[1:])
        + "</tr>"
        for row in body
    )
    return f'<table class="hierlmm-summary"><tr>{head}</tr>{lines}</table>'
