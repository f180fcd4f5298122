"""The transform guard: hostile terms are refused everywhere, documented transforms pass."""

from __future__ import annotations

import pytest

from hierlmm.errors import SpecError
from hierlmm.spec import GroupSpec, ModelSpec, parse_formula
from hierlmm.spec.transforms import ALLOWED_CALLS, check_term, namespace, tokenize

# hostile term -> fragment the refusal message must contain
HOSTILE = {
    "__import__('os').system('echo hi')": "attribute access",
    "x.__class__": "attribute access",
    "os.system('ls')": "attribute access",
    "np.log(x)": "attribute access",
    "eval('1')": "calls eval()",
    "exec('import os')": "calls exec()",
    "open('/etc/passwd')": "calls open()",
    "getattr(x, 'y')": "calls getattr()",
    "globals()": "calls globals()",
    "__builtins__": "dunder names are refused",
    "x[0]": "uses indexing",
    "lambda: 1": "Python keyword 'lambda'",
    "x if c else z": "Python keyword 'if'",
    '"abc"': "string literal",
    "`x`(1)": "calls or assigns the quoted column",
    "`__class__`": "dunder names are refused",
    "`x`.real": "attribute access",
    "log(lambda)": "quote a column of that name with backticks",
    "import os": "Python keyword 'import'",
    "x;y": "contains ';'",
    "x; import os": "contains ';'",
    "log(x)(y)": "calls something other than an allowed transform",
    "C(g, levels=['a'])(1)": "calls something other than an allowed transform",
    "C(g, levels=[x[0]])": "uses indexing",
    "C(g, levels=['a', __import__])": "dunder names are refused",
    "I(x @ y)": "contains '@'",
    "I(x == 1)": "not a valid term",
    "C(g, levels=['a','b'])": "C(x, levels=[...]) is not supported; write C(x) and give the "
    "column the level order as a pandas Categorical",
}
ALLOWED = [
    "log(x)",
    "scale(x)",
    "center(x)",
    "standardize(x)",
    "poly(x, 2)",
    "poly(x, degree=3)",
    "C(g)",
    "I(x ** 2)",
    "I(x * 2.5 - 1e-3)",
    "sqrt(x)",
    "log1p(abs(x))",
]


@pytest.mark.parametrize("term", list(HOSTILE))
def test_check_term_refuses_hostile_term(term: str) -> None:
    with pytest.raises(SpecError) as info:
        check_term(term)
    assert HOSTILE[term] in str(info.value)


@pytest.mark.parametrize("term", list(HOSTILE))
@pytest.mark.parametrize(
    "template",
    ["y ~ x + {}", "y ~ x + ({} | g)", "{} ~ x + (1 | g)"],
    ids=["fixed", "slope", "response"],
)
def test_formula_refuses_hostile_term(term: str, template: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_formula(template.format(term))
    assert HOSTILE[term] in str(info.value)


@pytest.mark.parametrize("term", ALLOWED)
def test_allowed_transform_passes(term: str) -> None:
    assert check_term(term) == term
    spec = parse_formula(f"y ~ {term} + ({term} | g)")
    assert spec == ModelSpec("y", fixed=(term,), groups=(GroupSpec("g", slopes=(term,)),))


@pytest.mark.parametrize("term", ["log(y)", "sqrt(y)", "I(y / 1000)"])
def test_transformed_response_passes(term: str) -> None:
    assert parse_formula(f"{term} ~ 1").response == term


def test_decimal_point_in_number_is_not_attribute_access() -> None:
    assert tokenize("I(2.5 * x)") == [
        ("name", "I"),
        ("op", "("),
        ("number", "2.5"),
        ("op", "*"),
        ("name", "x"),
        ("op", ")"),
    ]
    with pytest.raises(SpecError, match="attribute access"):
        check_term("I(2.5.real * x)")


def test_namespace_holds_only_numpy_functions() -> None:
    names = set(namespace())
    assert names == {"log", "log2", "log10", "log1p", "exp", "sqrt", "abs"}
    assert names < set(ALLOWED_CALLS)
