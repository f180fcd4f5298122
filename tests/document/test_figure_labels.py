"""Every figure of report.html has x and y labels and a title, in the reader's words."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

import hierlmm
from hierlmm.document.figures import SECTIONS, NotApplicable, Plot


def report_figures(fit: hierlmm.Fit) -> dict[str, Plot]:
    """Every Plot block the report's section builders make for ``fit``, by name."""
    plots = {}
    for spec in SECTIONS:
        try:
            blocks = spec.builder(fit, 0.9)
        except NotApplicable:
            continue
        plots.update({b.name: b for b in blocks if isinstance(b, Plot)})
    return plots


def axes_labels(fig: Figure) -> list[tuple[str, str, str]]:
    """(x label, y label, title) of each axes; figure-level labels stand in for empty ones."""
    return [
        (ax.get_xlabel() or fig.get_supxlabel(), ax.get_ylabel() or fig.get_supylabel(),
         ax.get_title() or fig.get_suptitle())
        for ax in fig.axes
    ]


@pytest.fixture(scope="module")
def sleep_plots(sleep_fit) -> dict[str, Plot]:
    return report_figures(sleep_fit)


@pytest.fixture(scope="module")
def penicillin_plots(crossed_fit) -> dict[str, Plot]:
    return report_figures(crossed_fit)


@pytest.mark.parametrize("case", ["sleep_plots", "penicillin_plots"])
def test_every_figure_has_x_and_y_labels_and_a_title(case, request) -> None:
    plots = request.getfixturevalue(case)
    assert len(plots) >= 4
    for name, plot in plots.items():
        assert plot.figure.axes, name
        for xlabel, ylabel, title in axes_labels(plot.figure):
            assert xlabel.strip() and ylabel.strip() and title.strip(), (name, xlabel, ylabel,
                                                                          title)
        no_interval = name == "ppc_density" or (name.startswith("shrinkage_")
                                                and not name.startswith("shrinkage_2d"))
        if not no_interval:
            assert "90%" in plot.caption, name


def test_axes_use_the_data_names_and_human_labels(sleep_plots) -> None:
    fig = sleep_plots["variance_components"].figure
    sd_axes, icc_axes = fig.axes
    assert sd_axes.get_xlabel() == "standard deviation of Reaction"
    assert [t.get_text() for t in sd_axes.get_yticklabels()] == [
        "SD of Subject intercepts", "SD of Subject slopes on Days", "Residual SD"]
    assert [t.get_text() for t in icc_axes.get_yticklabels()] == ["Variance share of Subject"]
    assert sleep_plots["ppc_density"].figure.axes[0].get_xlabel() == "Reaction"
    traj = sleep_plots["trajectories_Subject_Days"].figure
    assert traj.get_supylabel() == "Reaction" and traj.get_supxlabel() == "Days"
    assert traj.axes[0].get_title() == "Subject 308"
    curve = sleep_plots["variance_curve_Subject_Days"].figure.axes[0]
    assert curve.get_ylabel() == "variance of Reaction"
    assert "90%" in sleep_plots["variance_components"].caption


def test_legends_sit_outside_the_data(sleep_plots) -> None:
    names = ["variance_curve_Subject_Days", "shrinkage_2d_Subject",
             "ppc_group_means_Subject", "shrinkage_Subject_Days"]
    for name in names:
        fig = sleep_plots[name].figure
        fig.canvas.draw()
        ax = fig.axes[0]
        legend, box = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert legend.x0 >= box.x1, name  # entirely to the right of the plotting area


def test_balanced_shrinkage_is_a_caterpillar_not_jittered_sizes(sleep_plots) -> None:
    ax = sleep_plots["shrinkage_Subject_Intercept"].figure.axes[0]
    assert ax.get_xlabel().startswith("Subject (sorted by partial-pooling estimate")
    partial = ax.collections[-1].get_offsets()  # (18, 2): x is the rank
    assert sorted(partial[:, 0].tolist()) == list(range(18))
    assert all(partial[partial[:, 0].argsort(), 1][1:] >= partial[partial[:, 0].argsort(), 1][:-1])


def test_rater_reliability_panel_names_its_quantities_in_words(crossed_fit) -> None:
    """rater_icc rows (``icc_consistency(plate|sample)``) read as words on the ICC axis."""
    from hierlmm import plots, report

    fig = plots.plot_variance_components(
        report.variance_components(crossed_fit),
        report.rater_icc(crossed_fit, subject="plate", rater="sample"),
        icc_quantities=("consistency", "agreement"))
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert labels == ["Consistency of plate scores across sample",
                      "Absolute agreement of plate scores across sample"]
