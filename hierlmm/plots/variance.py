"""Forest plots of variance components and intraclass correlations."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure

from hierlmm.errors import SpecError
from hierlmm.plots._common import ACCENT, forest, interval_columns, new_figure, require_columns
from hierlmm.plots.labels import Units, parameter_label, squared_unit, with_unit

_QUANTITY_AXIS = {"sd": "standard deviation", "variance": "variance", "share": "share of variance"}
_QUANTITY_TITLE = {"sd": "Random-effect and residual SDs",
                   "variance": "Random-effect and residual variances",
                   "share": "Shares of the total variance"}


def _forest_panel(ax, rows: pd.DataFrame, lo: str, hi: str, title: str, xlabel: str,
                  ylabel: str) -> None:
    labels = [parameter_label(str(p)) for p in rows["parameter"]]
    forest(ax, labels, rows["mean"], rows[lo], rows[hi], color=ACCENT)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _quantity_axis(quantity: str, response: str | None, units: Units | None = None) -> str:
    """``"SD of Reaction (ms)"`` style axis label (the bare quantity without a response)."""
    if response is None or quantity == "share":
        return _QUANTITY_AXIS[quantity]
    unit = (units or {}).get(response)
    unit = squared_unit(unit) if quantity == "variance" else unit
    return with_unit(f"{_QUANTITY_AXIS[quantity]} of {response}", unit)


def plot_variance_components(
    components: pd.DataFrame,
    icc_table: pd.DataFrame | None = None,
    *,
    quantity: str = "sd",
    icc_quantities: Sequence[str] = ("icc",),
    response: str | None = None,
    units: Units | None = None,
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
    response : str, optional
        Name of the response, for the x axis (``"standard deviation of Reaction"``).
    units : mapping of str to str, optional
        Units of data columns (``Fit.units``); the response's is added to the axis.

    Returns
    -------
    matplotlib.figure.Figure
        One panel (posterior mean and central interval per row, rows labelled as
        "SD of Subject intercepts"), two with ``icc_table``.
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
    _forest_panel(axes[0], rows, lo, hi, _QUANTITY_TITLE[quantity],
                  _quantity_axis(quantity, response, units), "component")
    if icc_rows is not None:
        ilo, ihi = interval_columns(icc_table)
        _forest_panel(axes[1], icc_rows, ilo, ihi, "Intraclass correlations",
                      "correlation or share of variance", "quantity")
    return fig
