"""Family checks: calibration plot (binary outcomes) and hanging rootogram (counts).

Both read tables of :mod:`hierlmm.report.family_checks`.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from hierlmm.plots._common import ACCENT, new_figure, require_columns


def plot_calibration(table: pd.DataFrame) -> Figure:
    """Observed proportion against predicted probability per bin, with the predictive band.

    ``table``: :func:`hierlmm.report.family_checks.calibration_table`.
    """
    require_columns(table, ("predicted", "observed", "lower", "upper"), "calibration table")
    fig, (ax,) = new_figure(1)
    ax.plot([0, 1], [0, 1], color="#7f7f7f", lw=0.8, ls="--")
    ax.vlines(table["predicted"], table["lower"], table["upper"], color=ACCENT, alpha=0.4,
              lw=4)
    ax.plot(table["predicted"], table["observed"], "o", color=ACCENT)
    ax.set_xlabel("predicted probability (bin mean)")
    ax.set_ylabel("observed proportion")
    ax.set_title("Calibration (band: 90% predictive interval)")
    return fig


def plot_rootogram(table: pd.DataFrame) -> Figure:
    """Hanging rootogram: bars of sqrt(observed) hanging from the sqrt(expected) curve.

    ``table``: :func:`hierlmm.report.family_checks.rootogram_table`.
    """
    require_columns(table, ("count", "sqrt_observed", "sqrt_expected", "hanging_bottom"),
                    "rootogram table")
    fig, (ax,) = new_figure(1)
    ax.bar(table["count"], table["sqrt_observed"], bottom=table["hanging_bottom"],
           color="#bdc3c7", edgecolor="#7f7f7f", width=0.8)
    ax.plot(table["count"], table["sqrt_expected"], "o-", color=ACCENT)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("count")
    ax.set_ylabel("sqrt(frequency)")
    ax.set_title("Hanging rootogram")
    return fig
