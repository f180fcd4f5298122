"""Split an lme4 formula into tokens for :mod:`hierlmm.spec.formula`.

A token is an operator of the formula language or an *atom*: a column name (bare, or
quoted with backticks as in lme4: ``` `reaction time` ```), a number, or a call such as
``log(x)`` / ``C(g, levels=['a', 'b'])`` taken whole (its parentheses, commas and quoted
labels are part of the atom). Atoms are not judged here; the parser
passes each one to :func:`hierlmm.spec.transforms.check_term`. The scanner only checks
that parentheses balance and quotes close, and reports the column where they do not.
"""

from __future__ import annotations

from dataclasses import dataclass

from hierlmm.errors import SpecError

_OPERATORS = "+-*/:"
_STOP = set(_OPERATORS) | set("()|~") | {" ", "\t", "\n", "\r"}


@dataclass(frozen=True)
class Token:
    """One formula token.

    Attributes
    ----------
    kind : {"atom", "op", "lpar", "rpar", "bar", "tilde"}
    text : str
        The token as written (``"||"`` for an independent-effects bar, ``"**"`` for power).
    pos : int
        0-based offset of the token in the scanned string.
    """

    kind: str
    text: str
    pos: int


def scan(text: str) -> list[Token]:
    """Return the tokens of ``text``, raising :class:`SpecError` on unbalanced brackets.

    Parameters
    ----------
    text : str
        A formula, or one side of it.
    """
    tokens: list[Token] = []
    opened: list[int] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char.isspace():
            pos += 1
        elif char == "(":
            opened.append(pos)
            tokens.append(Token("lpar", "(", pos))
            pos += 1
        elif char == ")":
            if not opened:
                raise _unbalanced(text, f"')' at column {pos + 1} has no matching '('")
            opened.pop()
            tokens.append(Token("rpar", ")", pos))
            pos += 1
        elif char in "|~" or char in _OPERATORS:
            width = 2 if text.startswith(("||", "**"), pos) else 1
            kind = {"|": "bar", "~": "tilde"}.get(char, "op")
            tokens.append(Token(kind, text[pos : pos + width], pos))
            pos += width
        else:
            end = _atom_end(text, pos)
            tokens.append(Token("atom", text[pos:end], pos))
            pos = end
    if opened:
        raise _unbalanced(text, f"'(' at column {opened[-1] + 1} is never closed")
    return tokens


def _atom_end(text: str, start: int) -> int:
    """Offset just past the atom starting at ``start`` (calls are taken whole)."""
    pos = start
    while pos < len(text):
        char = text[pos]
        if char in "'\"`":
            pos = _string_end(text, pos)
        elif char == "(" and pos > start:
            pos = _call_end(text, pos)
        elif char in _STOP:
            return pos
        else:
            pos += 1
    return pos


def _call_end(text: str, start: int) -> int:
    """Offset just past the ``)`` matching the ``(`` at ``start``, skipping quoted text."""
    depth = 0
    pos = start
    while pos < len(text):
        char = text[pos]
        if char in "'\"`":
            pos = _string_end(text, pos)
            continue
        depth += (char == "(") - (char == ")")
        pos += 1
        if depth == 0:
            return pos
    raise _unbalanced(text, f"'(' at column {start + 1} is never closed")


def _string_end(text: str, start: int) -> int:
    """Offset just past the quoted string starting at ``start``."""
    end = text.find(text[start], start + 1)
    if end < 0:
        raise SpecError(f"formula {text!r}: the quote at column {start + 1} is never closed")
    return end + 1


def _unbalanced(text: str, detail: str) -> SpecError:
    return SpecError(f"formula {text!r} has unbalanced parentheses: {detail}")
