"""Backtick-quoted column names and keyword-named columns, from formula to TOML file."""

from __future__ import annotations

from pathlib import Path

import pytest

from hierlmm.design.validate import term_variables
from hierlmm.errors import SpecError
from hierlmm.spec import GroupSpec, ModelSpec, load_model_file, parse_formula
from hierlmm.spec.transforms import check_term, display_term

QUOTED = {
    "`reaction time` ~ Days + (Days | Subject)": ModelSpec(
        "`reaction time`", fixed=("Days",), groups=(GroupSpec("Subject", slopes=("Days",)),)),
    "class ~ lambda + (1 | g)": ModelSpec("class", fixed=("lambda",), groups=(GroupSpec("g"),)),
    "`class` ~ `lambda` + (`lambda` || g)": ModelSpec(
        "`class`", fixed=("`lambda`",),
        groups=(GroupSpec("g", slopes=("`lambda`",), correlated=False),)),
    "y ~ log(`math.score`) + class:x + I(`yield` ** 2)": ModelSpec(
        "y", fixed=("log(`math.score`)", "class:x", "I(`yield` ** 2)")),
}


@pytest.mark.parametrize("formula", list(QUOTED))
def test_quoted_and_keyword_names_parse_and_round_trip(formula: str) -> None:
    spec = parse_formula(formula)
    assert spec == QUOTED[formula]
    assert parse_formula(spec.formula) == spec


@pytest.mark.parametrize(
    ("term", "columns", "shown"),
    [
        ("`reaction time`", ("reaction time",), "reaction time"),
        ("log(`math.score`)", ("math.score",), "log(math.score)"),
        ("class:`lambda`", ("class", "lambda"), "class:lambda"),
        ("I(`yield` ** 2)", ("yield",), "I(yield ** 2)"),
        ("poly(`a b`, 2)", ("a b",), "poly(a b, 2)"),
        ("Days", ("Days",), "Days"),
    ],
)
def test_term_columns_and_display_name(term: str, columns: tuple, shown: str) -> None:
    assert term_variables(term) == columns
    assert display_term(term) == shown


@pytest.mark.parametrize(
    ("formula", "fragment"),
    [
        ("y ~ sqrt(class)", "quote a column of that name with backticks: `class`"),
        ("y ~ `a`b`", "never closed"),
        ("y ~ `` + x", "does not quote a column name"),
        ("y ~ `x`.__class__", "attribute access"),
        ("y ~ log(`x`(1))", "calls or assigns the quoted column"),
        ("y ~ C(g, levels=[`x`])", "not supported"),
        ("`__import__` ~ x", "dunder names are refused"),
        ("None ~ x", "Python keyword 'None'"),
    ],
)
def test_quoting_does_not_open_the_guard(formula: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_formula(formula)
    assert fragment in str(info.value)


def test_quoted_name_may_not_span_lines() -> None:
    with pytest.raises(SpecError, match="does not quote a column name"):
        check_term("`a\nb`")


def test_model_file_with_quoted_and_keyword_columns(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("class,lambda,g\n1,2,a\n")
    formula_file = tmp_path / "formula.toml"
    formula_file.write_text(
        '[data]\nsource = "d.csv"\n[model]\nformula = "`class` ~ lambda + (1 | g)"\n'
    )
    structured = tmp_path / "structured.toml"
    structured.write_text(
        '[data]\nsource = "d.csv"\n[model]\nresponse = "`class`"\nfixed = ["`lambda`"]\n'
        '[[model.groups]]\nfactor = "g"\nslopes = ["log(`lambda`)"]\n'
    )
    assert load_model_file(formula_file).spec == ModelSpec(
        "`class`", fixed=("lambda",), groups=(GroupSpec("g"),))
    assert load_model_file(structured).spec == ModelSpec(
        "`class`", fixed=("`lambda`",), groups=(GroupSpec("g", slopes=("log(`lambda`)",)),))
