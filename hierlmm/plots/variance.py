"""Forest plots of variance components and intraclass correlations."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure

from hierlmm.errors import SpecError
from hierlmm.plots._common import ACCENT, forest, interval_columns, new_figure, require_columns

_QUANTITY_AXIS = {"sd": "standard deviation", "variance": "variance", "share": "share of variance"}


def _forest_panel(ax, rows: pd.DataFrame, lo: str, hi: str, title: str, xlabel: str) -> None:
    forest(ax, rows["parameter"].tolist(), rows["mean"], rows[lo], rows[hi], color=ACCENT)
    ax.set_title(title)
    ax.set_xlabel(xlabel)


def plot_variance_components(
    components: pd.DataFrame,
    icc_table: pd.DataFrame | None = None,
    *,
    quantity: str = "sd",
    icc_quantities: Sequence[str] = ("icc",),
) -> Figure:
    """Forest plot of random-effect and residual SDs (or variances), and of ICCs.

    Parameters
    ----------
    components : pandas.DataFrame
        From :func:`hierlmm.report.variance.variance_components`.
    icc_table : pandas.DataFrame, optional
        From :func:`hierlmm.report.variance.icc` (or ``rater_icc``); adds a second panel.
    quantity : {"sd", "variance", "share"}
        Which rows of ``components`` to draw.
    icc_quantities : sequence of str
        Which ``quantity`` rows of ``icc_table`` to draw (``"icc"``, ``"corr_same"``,
        ``"design_effect"``, ``"consistency"``, ``"agreement"``).

    Returns
    -------
    matplotlib.figure.Figure
        One panel (posterior mean and central interval per row), two with ``icc_table``.
    """
    source = "hierlmm.report.variance.variance_components"
    require_columns(components, ("parameter", "quantity", "mean"), source)
    if quantity not in _QUANTITY_AXIS:
        raise SpecError(f"quantity={quantity!r} is not recognised; choose one of "
                        f"{list(_QUANTITY_AXIS)}")
    rows = components[components["quantity"] == quantity]
    lo, hi = interval_columns(components)
    icc_rows = None
    if icc_table is not None:
        require_columns(icc_table, ("parameter", "quantity", "mean"),
                        "hierlmm.report.variance.icc")
        icc_rows = icc_table[icc_table["quantity"].isin(list(icc_quantities))]
        if icc_rows.empty:
            icc_rows = None
    fig, axes = new_figure(1 if icc_rows is None else 2, ncols=2)
    _forest_panel(axes[0], rows, lo, hi, f"Variance components ({quantity})",
                  _QUANTITY_AXIS[quantity])
    if icc_rows is not None:
        ilo, ihi = interval_columns(icc_table)
        _forest_panel(axes[1], icc_rows, ilo, ihi, "Intraclass correlation", "correlation")
    return fig
