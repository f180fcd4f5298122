"""lme4 formula parsing: every supported syntax equals the hand-built ModelSpec."""

from __future__ import annotations

import pytest

from hierlmm.errors import SpecError
from hierlmm.spec import GroupSpec, ModelSpec, PriorSpec, check_spec_terms, parse_formula

G = GroupSpec

CASES = {
    # random intercept
    "y ~ 1 + (1 | g)": ModelSpec("y", groups=(G("g"),)),
    # slope with the intercept implied, sleepstudy
    "Reaction ~ Days + (Days | Subject)": ModelSpec(
        "Reaction", fixed=("Days",), groups=(G("Subject", slopes=("Days",)),)
    ),
    # several slopes, explicit intercept
    "y ~ x + z + (1 + x + z | g)": ModelSpec(
        "y", fixed=("x", "z"), groups=(G("g", slopes=("x", "z")),)
    ),
    # no intercept: 0 + ..., -1 + ..., ... - 1
    "y ~ 0 + x + (0 + x | g)": ModelSpec(
        "y", fixed=("x",), intercept=False, groups=(G("g", intercept=False, slopes=("x",)),)
    ),
    "y ~ -1 + x + (-1 + x | g)": ModelSpec(
        "y", fixed=("x",), intercept=False, groups=(G("g", intercept=False, slopes=("x",)),)
    ),
    "y ~ x - 1 + (x - 1 | g)": ModelSpec(
        "y", fixed=("x",), intercept=False, groups=(G("g", intercept=False, slopes=("x",)),)
    ),
    # independent effects
    "y ~ x + (x || g)": ModelSpec(
        "y", fixed=("x",), groups=(G("g", slopes=("x",), correlated=False),)
    ),
    "y ~ (0 + x + z || g)": ModelSpec(
        "y", groups=(G("g", intercept=False, slopes=("x", "z"), correlated=False),)
    ),
    # nesting
    "y ~ (1 | school/class)": ModelSpec("y", groups=G.nested("school", "class")),
    "y ~ (1 + x | a/b/c)": ModelSpec(
        "y", groups=(G("a", slopes=("x",)), G("a:b", slopes=("x",)), G("a:b:c", slopes=("x",)))
    ),
    # interaction factor
    "y ~ (1 | a:b)": ModelSpec("y", groups=(G("a:b"),)),
    # crossed
    "RT ~ cond + (1 | subject) + (1 | item)": ModelSpec(
        "RT", fixed=("cond",), groups=(G("subject"), G("item"))
    ),
    # several factors at once, mixed bars
    "y ~ x + (x | s) + (1 || i) + (0 + x | s:i)": ModelSpec(
        "y",
        fixed=("x",),
        groups=(
            G("s", slopes=("x",)),
            G("i", correlated=False),
            G("s:i", intercept=False, slopes=("x",)),
        ),
    ),
    # fixed-part algebra
    "y ~ a*b": ModelSpec("y", fixed=("a", "b", "a:b")),
    "y ~ a*b*c": ModelSpec("y", fixed=("a", "b", "c", "a:b", "a:c", "b:c", "a:b:c")),
    "y ~ a/b": ModelSpec("y", fixed=("a", "a:b")),
    "y ~ (a + b):c": ModelSpec("y", fixed=("a:c", "b:c")),
    "y ~ x + x + a:b + b:a": ModelSpec("y", fixed=("x", "a:b")),
    "y ~ x*z + (x*z | g)": ModelSpec(
        "y", fixed=("x", "z", "x:z"), groups=(G("g", slopes=("x", "z", "x:z")),)
    ),
    "y ~ 0": ModelSpec("y", intercept=False),
    "y ~ 1": ModelSpec("y"),
    # transforms in response, fixed and slopes; whitespace across lines
    "log(y) ~ log(x) + C(g) + I(x ** 2) + poly(t, 2)\n + (scale(x) | h)": (
        ModelSpec(
            "log(y)",
            fixed=("log(x)", "C(g)", "I(x ** 2)", "poly(t, 2)"),
            groups=(G("h", slopes=("scale(x)",)),),
        )
    ),
}


@pytest.mark.parametrize("formula", list(CASES))
def test_formula_gives_hand_built_spec(formula: str) -> None:
    assert parse_formula(formula) == CASES[formula]


@pytest.mark.parametrize("formula", list(CASES))
def test_spec_formula_round_trips(formula: str) -> None:
    spec = CASES[formula]
    assert parse_formula(spec.formula) == spec
    assert check_spec_terms(spec) is spec


def test_round_trip_of_specs_built_from_groupspec() -> None:
    specs = [
        ModelSpec(
            "Reaction",
            fixed=("Days",),
            groups=(G("Subject", slopes=("Days",)),),
        ),
        ModelSpec(
            "y",
            fixed=("x", "log(z)", "a:b"),
            intercept=False,
            groups=(
                *G.nested("school", "class", slopes=("x",), correlated=False),
                G("item", intercept=False, slopes=("log(z)", "x")),
            ),
        ),
    ]
    assert specs[1].formula == (
        "y ~ 0 + x + log(z) + a:b + (1 + x || school) + (1 + x || school:class)"
        " + (0 + log(z) + x | item)"
    )
    for spec in specs:
        assert parse_formula(spec.formula) == spec


def test_family_and_priors_are_passed_through() -> None:
    priors = PriorSpec(sd_scale=1.0)
    spec = parse_formula("y ~ (1 | g)", family="poisson", priors=priors)
    assert spec.family == "poisson"
    assert spec.priors == priors
    with pytest.raises(SpecError, match="family='student'"):
        parse_formula("y ~ (1 | g)", family="student")


ERRORS = {
    "y x": "has no '~'",
    "~ x": "no response left of '~'",
    "y ~": "nothing right of '~'; write 'y ~ 1'",
    "y ~~ x": "more than one '~'",
    "y + z ~ x": "response 'y + z' must be one column",
    "y ~ x + (1 | g": "unbalanced parentheses: '(' at column 9 is never closed",
    "y ~ x + 1 | g)": "unbalanced parentheses: ')' at column 14 has no matching '('",
    "y ~ log(x + (1 | g)": "unbalanced parentheses",
    "y ~ x + (1 + x)": "the parenthesised term at column 9 has no '|'",
    "y ~ x + 1 | g": "unexpected '|' at column 11; '|' belongs inside a random term",
    "y ~ (1 | )": "the grouping factor after '|' is empty",
    "y ~ (1 || )": "the grouping factor after '||' is empty",
    "y ~ ( | g)": "has nothing left of '|'",
    "y ~ (1 | a/)": "ends with an operator",
    "y ~ (1 | log(g))": "grouping factor 'log(g)' is not a column name",
    "y ~ (1 | a*b)": "unexpected '*' in the grouping factor",
    "y ~ (1 | g) + (0 + x | g)": "grouping factor 'g' twice; merge its terms",
    "y ~ (1 | a/b) + (1 | a)": "grouping factor 'a' twice",
    "y ~ (0 | g)": "neither an intercept nor slopes",
    "y ~ (1 + (1 | h) | g)": "can only appear at the top level",
    "y ~ (1 | g):x": "cannot be combined with ':'",
    "y ~ x - z": "removing the term 'z' with '-' is not supported",
    "y ~ x - (1 | g)": "cannot be removed with '-'",
    "y ~ 2 + x": "the number 2 is not a term",
    "y ~ x:1": "the number 1 cannot be combined",
    "y ~ (1 + a):b": "may not appear inside parentheses",
    "y ~ x**2": "for a squared term write I(x ** 2)",
    "y ~ x +": "a term is missing",
    "y ~ x + + z": "unexpected '+' at column 9",
    "y ~ log (x)": "unexpected '(' at column 9; join terms with '+'",
    "y ~ C(g, levels=['a)])": "the quote at column 18 is never closed",
    # the scanner takes the quoted labels whole; the term is then refused as a whole
    "y ~ C(g, levels=['a)', 'b|c'])": (
        "formula term \"C(g, levels=['a)', 'b|c'])\": C(x, levels=[...]) is not supported"
    ),
}


@pytest.mark.parametrize("formula", list(ERRORS))
def test_bad_formula_raises_spec_error(formula: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_formula(formula)
    assert ERRORS[formula] in str(info.value)


def test_formula_must_be_a_string() -> None:
    with pytest.raises(SpecError, match="formula must be a string, got int"):
        parse_formula(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ModelSpec("y", fixed=("a*b",)), "fixed term 'a*b' is not a single term"),
        (ModelSpec("y + z"), "response 'y + z' must be one column"),
        (
            ModelSpec("y", groups=(G("g", slopes=("x + z",)),)),
            "slope of 'g' 'x + z' is not a single term",
        ),
        (ModelSpec("y", fixed=("1",)), "fixed term '1' is not a valid term"),
        (ModelSpec("y", fixed=("os.system(1)",)), "attribute access"),
    ],
)
def test_check_spec_terms_refuses_compound_terms(spec: ModelSpec, message: str) -> None:
    with pytest.raises(SpecError) as info:
        check_spec_terms(spec)
    assert message in str(info.value)
