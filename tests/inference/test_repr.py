"""repr(fit) and its notebook HTML: formula, data, groups, engine, draws, time, convergence."""

from __future__ import annotations

from dataclasses import replace

import xarray as xr

import hierlmm
from hierlmm.inference import result
from hierlmm.inference.diagnostics import convergence_problems
from hierlmm.inference.display import convergence_status, facts_html, facts_text


def expected_status(fit: hierlmm.Fit) -> str:
    problems = convergence_problems(fit.diagnostics())
    return "not converged: " + "; ".join(problems) if problems else "converged"


def test_repr_lists_the_facts_of_a_real_fit(sleep_fit) -> None:
    t, s = sleep_fit.timings, sleep_fit.settings
    assert repr(sleep_fit).splitlines() == [
        "<hierlmm Fit>",
        "  formula       Reaction ~ 1 + Days + (1 + Days | Subject)",
        "  observations  180",
        "  groups        Subject (18 levels)",
        "  engine        collapsed",
        "  sampler       nutpie",
        f"  draws         {s['chains']} chains x {s['draws']} draws",
        f"  time          {t['total_s']:.2f} s total, {t['compile_s']:.2f} s compiling",
        f"  convergence   {expected_status(sleep_fit)}",
    ]


def test_repr_of_a_thinned_run_says_so(sleep_fit) -> None:
    """The independence sampler's 4x redo of a narrow miss keeps every 4th draw."""
    thinned = replace(sleep_fit, settings={**sleep_fit.settings, "thin": 4})
    chains, draws = sleep_fit.settings["chains"], sleep_fit.settings["draws"]
    assert (f"  draws         {chains} chains x {draws} draws (one in 4 of {4 * draws:,} kept)"
            in repr(thinned).splitlines())


def test_repr_html_is_an_escaped_table_of_the_same_facts(sleep_fit) -> None:
    page = sleep_fit._repr_html_()
    assert page.startswith('<table class="hierlmm-fit"><caption>hierlmm Fit</caption>')
    assert page.endswith("</table>")
    cell = '<tr><th style="text-align:left">{}</th><td style="text-align:left">{}</td></tr>'
    assert cell.format("formula", "Reaction ~ 1 + Days + (1 + Days | Subject)") in page
    assert cell.format("observations", "180") in page
    assert cell.format("engine", "collapsed") in page
    status = expected_status(sleep_fit).replace(">", "&gt;").replace("<", "&lt;")
    assert cell.format("convergence", status) in page
    facts, summary = page.split('<table class="hierlmm-summary">')
    assert facts.count("<tr>") == 8  # issue 11: the rounded summary table follows the facts
    assert summary.count("<tr>") == 1 + len(sleep_fit.summary())
    assert "<th>90% interval</th>" in summary
    days = sleep_fit.summary().loc["Days"]
    assert f'<td style="text-align:right">{days["ess_bulk"]:.0f}</td>' in summary


def test_repr_is_short(sleep_fit) -> None:
    assert len(repr(sleep_fit)) < 1500
    assert len(repr(sleep_fit)) == len(str(sleep_fit)) < 400


def test_facts_are_escaped_and_aligned() -> None:
    facts = [("a<b", "x & y"), ("long label", "<script>")]
    assert facts_html(facts) == (
        '<table class="hierlmm-fit"><caption>hierlmm Fit</caption>'
        '<tr><th style="text-align:left">a&lt;b</th><td style="text-align:left">x &amp; y</td>'
        '</tr><tr><th style="text-align:left">long label</th>'
        '<td style="text-align:left">&lt;script&gt;</td></tr></table>'
    )
    assert facts_text(facts) == "<hierlmm Fit>\n  a<b         x & y\n  long label  <script>"


def test_convergence_status() -> None:
    assert convergence_status([]) == "converged"
    assert convergence_status(["2 divergent transition(s)", "max R-hat 1.050 > 1.01"]) == (
        "not converged: 2 divergent transition(s); max R-hat 1.050 > 1.01")


def test_diagnostics_are_computed_once_per_fit(sleep_fit, monkeypatch) -> None:
    calls = []
    real = result.diagnostics
    monkeypatch.setattr(result, "diagnostics", lambda fit: calls.append(1) or real(fit))
    fresh = replace(sleep_fit)  # a new record: nothing cached yet
    first = fresh.diagnostics()
    repr(fresh), fresh._repr_html_()
    second = fresh.diagnostics()
    assert len(calls) == 1
    assert first == second == sleep_fit.diagnostics() and first is not second
    first["divergences"] = 99  # callers get a copy
    assert fresh.diagnostics()["divergences"] == sleep_fit.diagnostics()["divergences"]


def test_repr_without_sampler_stats_timings_or_groups(sleep_fit) -> None:
    posterior_only = xr.DataTree.from_dict({"posterior": sleep_fit.posterior})
    design = replace(sleep_fit.design, groups=(), n_dropped=3)
    fit = replace(sleep_fit, idata=posterior_only, design=design, timings={})
    lines = repr(fit).splitlines()
    assert lines[2:4] == ["  observations  180 (3 rows with missing values dropped)",
                          "  groups        none"]
    assert lines[-2:] == ["  time          not recorded",
                          "  convergence   unknown (no sample_stats)"]
