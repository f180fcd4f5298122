"""The documented set of transforms a formula or model file may use, and its guard.

A model file is data, not code. Formula terms are evaluated by formulae, which calls
Python functions by name; hierlmm therefore (1) checks every term against a small
grammar before anything is evaluated, and (2) hands formulae a namespace holding only
the functions below.

Allowed calls
-------------
``log, log2, log10, log1p, exp, sqrt, abs`` (numpy elementwise),
``center, scale, standardize`` (formulae's stateful transforms),
``poly(x, degree)`` (orthogonal polynomials), ``C(x)`` (categorical coding; the level
order comes from the column: ``C(x, levels=[...])`` passes the guard below but is then
refused, as formulae cannot parse the list), ``I(...)`` (arithmetic inside a term, e.g.
``I(x ** 2)``).
Anything else - attribute access, indexing, imports, lambdas, dunder names, Python
keywords used as code, strings outside ``C(levels=...)``, other calls, calls of call
results, comparisons, conditional expressions - is refused with :class:`SpecError`.

Column names
------------
A column whose name is not a Python identifier (``reaction time``, R-style
``math.score``) is quoted with backticks, as in lme4: ``` `reaction time` ~ Days ```.
A column named by a Python keyword (``class``, ``lambda``, ``yield``) may be written bare
when the term is only column names joined by ``:`` (``class``, ``class:Days``), and must be
backtick-quoted inside a transform (``log(`lambda`)``). A quoted name is only ever looked
up in the data (formulae resolves it as a variable, never evaluates it); it may not be
called, hold a backtick or a newline, or be a dunder name. :func:`display_term` strips
the backticks, giving the labels formulae uses (``log(lambda)``).

The guard works in two passes: a tokenizer that admits only names, backtick-quoted
column names, numbers, quoted labels and formula/arithmetic operators (so ``.`` after a
name, ``;`` and ``@`` never get through), then a walk over the Python syntax tree of the
term (with the interaction operator ``:`` read as ``*`` and every column name replaced by
a plain placeholder identifier) that admits only the node types listed in
``_ALLOWED_NODES``.
"""

from __future__ import annotations

import ast
import keyword
import re

import numpy as np

from hierlmm.errors import SpecError

NUMPY_FUNCTIONS = {
    "log": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "log1p": np.log1p,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "abs": np.abs,
}
FORMULAE_FUNCTIONS = ("center", "scale", "standardize", "poly", "C", "I")
ALLOWED_CALLS: tuple[str, ...] = tuple(NUMPY_FUNCTIONS) + FORMULAE_FUNCTIONS

# tokens a term may contain: names, numbers, operators of formula/arithmetic syntax,
# brackets only for C(levels=[...]) lists, and quoted level labels.
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<column>`[^`\n\r]+`)
      | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
      | (?P<string>'[^'\\]*'|"[^"\\]*")
      | (?P<op>\*\*|[-+*/:(),=\[\]^%])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"levels", "degree", "raw"}
_CONST = {"True", "False", "None"}
_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Call,
    ast.keyword,
    ast.List,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.Mod,
    ast.BitXor,
    ast.USub,
    ast.UAdd,
)
_NODE_WORDS = {
    "Attribute": "attribute access",
    "Subscript": "indexing",
    "Lambda": "a lambda",
    "IfExp": "a conditional expression",
    "Compare": "a comparison",
    "BoolOp": "and/or",
    "Tuple": "a tuple",
    "Starred": "argument unpacking",
    "Dict": "a dict",
    "Set": "a set",
}


def tokenize(term: str) -> list[tuple[str, str]]:
    """Split a term into ``(kind, text)`` tokens, refusing any character outside the grammar."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = term.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            bad = text[pos:].lstrip()[:1]
            if bad == ".":
                raise SpecError(
                    f"formula term {term!r} uses attribute access ('.'), which is refused; "
                    "quote a column whose name contains '.' with backticks, e.g. `math.score`"
                )
            if bad == "`":
                raise SpecError(
                    f"formula term {term!r} contains '`' that does not quote a column name; "
                    "write a quoted column as `my column` (one line, no backtick inside)"
                )
            raise SpecError(
                f"formula term {term!r} contains {bad!r}, which a hierlmm formula may not use; "
                f"allowed transforms: {', '.join(ALLOWED_CALLS)}"
            )
        kind = match.lastgroup or "op"
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def check_term(term: str) -> str:
    """Return ``term`` if it only uses allowed names and calls, else raise :class:`SpecError`.

    Parameters
    ----------
    term : str
        One formula term, e.g. ``"log(dose)"``, ``"C(group)"``.
    """
    tokens = tokenize(term)
    plain = _only_columns(tokens)
    for i, (kind, text) in enumerate(tokens):
        following = "".join(t for _, t in tokens[i + 1 : i + 3])
        if kind == "column":
            _check_column_token(term, text, following)
            continue
        if kind == "name" and keyword.iskeyword(text) and not (plain and text not in _CONST):
            raise SpecError(
                f"formula term {term!r} uses the Python keyword {text!r}, which is refused "
                f"here; quote a column of that name with backticks: `{text}`"
            )
        if kind == "name" and "__" in text:
            raise SpecError(
                f"formula term {term!r} uses the name {text!r}; dunder names are refused"
            )
        if kind == "name" and following.startswith("(") and text not in ALLOWED_CALLS:
            raise SpecError(
                f"formula term {term!r} calls {text}(), which is not an allowed transform; "
                f"allowed: {', '.join(ALLOWED_CALLS)}"
            )
        if (
            kind == "name"
            and following.startswith("=")
            and following != "=="
            and text not in _KEYWORDS
        ):
            raise SpecError(f"formula term {term!r} uses the keyword {text!r}, which is refused")
        if kind == "string" and not _inside_levels(tokens, i):
            raise SpecError(
                f"formula term {term!r} holds a string literal {text}; strings are only "
                "allowed in C(x, levels=[...])"
            )
        if text in ("[", "]") and not _inside_levels(tokens, i):
            raise SpecError(f"formula term {term!r} uses indexing, which is refused")
    _check_syntax_tree(term, tokens)
    if any(tokens[i] == ("name", "levels") and tokens[i + 1][1] == "="
           for i in range(len(tokens) - 1)):
        raise SpecError(
            f"formula term {term!r}: C(x, levels=[...]) is not supported; write C(x) and "
            "give the column the level order as a pandas Categorical, e.g. "
            "data['x'] = pandas.Categorical(data['x'], categories=['a', 'b'])"
        )
    return term


def _only_columns(tokens: list[tuple[str, str]]) -> bool:
    """Whether the tokens are column names joined by ``:`` (``a``, ``class:b``)."""
    names = tokens[::2]
    ops = tokens[1::2]
    return (
        len(tokens) % 2 == 1
        and all(kind in ("name", "column") for kind, _ in names)
        and all(tok == ("op", ":") for tok in ops)
    )


def _check_column_token(term: str, text: str, following: str) -> None:
    """Refuse a backtick-quoted name that is called, empty or a dunder name."""
    inner = text[1:-1]
    if not inner.strip():
        raise SpecError(f"formula term {term!r} quotes an empty column name")
    if "__" in inner:
        raise SpecError(f"formula term {term!r} uses the name {inner!r}; dunder names are refused")
    if following.startswith(("(", "=")):
        raise SpecError(
            f"formula term {term!r} calls or assigns the quoted column {text}, which is refused"
        )


def display_term(term: str) -> str:
    """``term`` with its column backticks removed, as formulae labels it.

    Parameters
    ----------
    term : str
        A checked term, e.g. ``"`reaction time`"`` or ``"log(`lambda`)"``.

    Returns
    -------
    str
        ``"reaction time"``, ``"log(lambda)"``; a term without backticks is unchanged.

    Examples
    --------
    >>> display_term("log(`math.score`)")
    'log(math.score)'
    """
    if "`" not in term:
        return term
    return "".join(
        text[1:-1] if kind == "column" else text for kind, text in _spaced(tokenize(term))
    )


def _spaced(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Tokens with formulae's spacing: binary arithmetic operators between spaces."""
    out: list[tuple[str, str]] = []
    for kind, text in tokens:
        if kind == "op" and text in ("**", "*", "/", "+", "-", "%") and out and out[-1][1] != "(":
            out.append(("op", f" {text} "))
        elif kind == "op" and text == ",":
            out.append(("op", ", "))
        else:
            out.append((kind, text))
    return out


def term_columns(term: str) -> tuple[str, ...]:
    """Data columns a formula term reads, in order of first appearance.

    Calls (a name followed by ``(``), keyword arguments (a name followed by ``=``) and
    Python constants are not columns; every other name is, and so is every
    backtick-quoted name (without its backticks).

    Parameters
    ----------
    term : str
        One term, e.g. ``"log(x)"``, ``"C(g)"``, ``"a:b"``, ``"poly(x, 2)"``, ``"I(x**2)"``,
        ``"log(`reaction time`)"`` (a backtick-quoted column).

    Returns
    -------
    tuple of str
        Column names, e.g. ``("a", "b")`` for ``"a:b"``.

    Raises
    ------
    SpecError
        If the term uses anything outside the allowed transform grammar.
    """
    tokens = tokenize(check_term(term))
    names: list[str] = []
    for i, (kind, text) in enumerate(tokens):
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "column":
            text = text[1:-1]
        elif kind != "name" or following in ("(", "=") or text in _CONST:
            continue
        if text not in names:
            names.append(text)
    return tuple(names)


def _check_syntax_tree(term: str, tokens: list[tuple[str, str]]) -> None:
    """Parse the tokens as a Python expression and admit only ``_ALLOWED_NODES``."""
    if not tokens:
        raise SpecError("a formula term is empty; remove the stray operator around it")
    source = " ".join(
        "*" if (kind == "op" and text == ":")
        else f"_column_{i}" if kind == "column" or keyword.iskeyword(text)
        else text
        for i, (kind, text) in enumerate(tokens)
    )
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise SpecError(
            f"formula term {term!r} is not a valid term ({exc.msg}); write a column name or "
            f"an allowed transform such as log(x) or I(x ** 2)"
        ) from exc
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            what = _NODE_WORDS.get(type(node).__name__, f"Python syntax {type(node).__name__}")
            raise SpecError(f"formula term {term!r} uses {what}, which is refused")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in ALLOWED_CALLS
        ):
            raise SpecError(
                f"formula term {term!r} calls something other than an allowed transform; "
                f"allowed: {', '.join(ALLOWED_CALLS)}"
            )
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str):
            raise SpecError(f"formula term {term!r} holds the constant {node.value!r}; refused")


def _inside_levels(tokens: list[tuple[str, str]], index: int) -> bool:
    """Whether token ``index`` sits inside a ``levels=[...]`` list."""
    depth = 0
    for j in range(index, -1, -1):
        text = tokens[j][1]
        if text == "]" and j != index:
            depth += 1
        elif text == "[":
            if depth == 0:
                return j >= 2 and tokens[j - 1][1] == "=" and tokens[j - 2][1] == "levels"
            depth -= 1
    return False


def namespace() -> dict[str, object]:
    """The only functions formulae may look up when evaluating hierlmm terms."""
    return dict(NUMPY_FUNCTIONS)
