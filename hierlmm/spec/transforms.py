"""The documented set of transforms a formula or model file may use, and its guard.

A model file is data, not code. Formula terms are evaluated by formulae, which calls
Python functions by name; hierlmm therefore (1) checks every term against a small
grammar before anything is evaluated, and (2) hands formulae a namespace holding only
the functions below.

Allowed calls
-------------
``log, log2, log10, log1p, exp, sqrt, abs`` (numpy elementwise),
``center, scale, standardize`` (formulae's stateful transforms),
``poly(x, degree)`` (orthogonal polynomials), ``C(x)`` (categorical coding, optional
``levels=[...]``), ``I(...)`` (arithmetic inside a term, e.g. ``I(x ** 2)``).
Anything else - attribute access, indexing, imports, lambdas, dunder names, strings
outside ``C(levels=...)``, other calls - is refused with :class:`SpecError`.
"""

from __future__ import annotations

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
      | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
      | (?P<string>'[^'\\]*'|"[^"\\]*")
      | (?P<op>\*\*|[-+*/:(),=\[\]^%])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"levels", "degree", "raw"}


def tokenize(term: str) -> list[tuple[str, str]]:
    """Split a term into ``(kind, text)`` tokens, refusing any character outside the grammar."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = term.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            bad = text[pos:].lstrip()[:1]
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
        One formula term, e.g. ``"log(dose)"``, ``"C(group, levels=['a', 'b'])"``.
    """
    tokens = tokenize(term)
    for i, (kind, text) in enumerate(tokens):
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "name" and "__" in text:
            raise SpecError(f"formula term {term!r} uses the name {text!r}; dunder names are refused")
        if kind == "name" and following == "(" and text not in ALLOWED_CALLS:
            raise SpecError(
                f"formula term {term!r} calls {text}(), which is not an allowed transform; "
                f"allowed: {', '.join(ALLOWED_CALLS)}"
            )
        if kind == "name" and following == "=" and text not in _KEYWORDS:
            raise SpecError(f"formula term {term!r} uses the keyword {text!r}, which is refused")
        if kind == "string" and not _inside_levels(tokens, i):
            raise SpecError(
                f"formula term {term!r} holds a string literal {text}; strings are only "
                "allowed in C(x, levels=[...])"
            )
        if text in ("[", "]") and not _inside_levels(tokens, i):
            raise SpecError(f"formula term {term!r} uses indexing, which is refused")
    return term


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
