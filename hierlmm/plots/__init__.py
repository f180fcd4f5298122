"""Figures drawn from report tables (re-exports only).

Every function returns a :class:`matplotlib.figure.Figure` built on an Agg canvas without
pyplot, so nothing global is touched and nothing needs closing.

>>> from hierlmm import plots, report
>>> plots.plot_variance_components(report.variance_components(fit))  # doctest: +SKIP
"""

from hierlmm.plots._common import figure_is_blank
from hierlmm.plots.autocorrelation import plot_residual_acf
from hierlmm.plots.checks import plot_compare, plot_ppc_density, plot_ppc_groups
from hierlmm.plots.correlation import plot_correlations
from hierlmm.plots.family_checks import plot_calibration, plot_rootogram
from hierlmm.plots.frequentist import plot_frequentist
from hierlmm.plots.shrinkage import plot_shrinkage, plot_shrinkage_2d
from hierlmm.plots.trajectories import plot_trajectories
from hierlmm.plots.variance import plot_variance_components
from hierlmm.plots.variance_curve import plot_icc_curve, plot_variance_curve

__all__ = [
    "figure_is_blank",
    "plot_calibration",
    "plot_compare",
    "plot_correlations",
    "plot_frequentist",
    "plot_icc_curve",
    "plot_ppc_density",
    "plot_ppc_groups",
    "plot_residual_acf",
    "plot_rootogram",
    "plot_shrinkage",
    "plot_shrinkage_2d",
    "plot_trajectories",
    "plot_variance_components",
    "plot_variance_curve",
]
