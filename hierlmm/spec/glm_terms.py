"""Formula pieces of GLMMs: binomial responses and offsets.

- ``p(successes, trials) ~ ...`` (bambi) and ``cbind(successes, failures) ~ ...`` (lme4)
  give the response ``successes`` and a ``trials`` term. ``cbind(s, n - s)`` is read as
  ``trials = "n"``, so it gives the same spec as ``p(s, n)``; any other failures term
  ``f`` gives ``trials = "I(s + f)"``.
- ``offset(term)`` on the right-hand side (e.g. ``offset(log(exposure))``) becomes
  ``ModelSpec.offset``; at most one offset.

Every column or transform inside goes through :func:`hierlmm.spec.transforms.check_term`.
"""

from __future__ import annotations

import re

from hierlmm.errors import SpecError
from hierlmm.spec.scan import Token
from hierlmm.spec.transforms import check_term

_BINOMIAL = re.compile(r"^(p|cbind)\((.*)\)$", re.DOTALL)
_OFFSET = re.compile(r"^offset\((.*)\)$", re.DOTALL)


def _split_args(inner: str, formula: str, call: str) -> tuple[str, str]:
    depth, cut = 0, []
    for i, char in enumerate(inner):
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            cut.append(i)
    if len(cut) != 1:
        raise SpecError(
            f"formula {formula!r}: {call}() takes exactly two arguments, e.g. "
            f"{call}(successes, {'trials' if call == 'p' else 'failures'})"
        )
    first, second = inner[: cut[0]].strip(), inner[cut[0] + 1 :].strip()
    if not first or not second:
        raise SpecError(f"formula {formula!r}: an argument of {call}() is empty")
    return first, second


def binomial_response(text: str, formula: str) -> tuple[str, str] | None:
    """``(successes, trials)`` of a ``p(s, n)`` / ``cbind(s, f)`` response, else None.

    Examples
    --------
    >>> binomial_response("cbind(s, n - s)", "")
    ('s', 'n')
    >>> binomial_response("p(s, n)", "")
    ('s', 'n')
    """
    match = _BINOMIAL.match(text.strip())
    if match is None:
        return None
    call, inner = match.group(1), match.group(2)
    successes, second = _split_args(inner, formula, call)
    check_term(successes)
    if call == "p":
        return successes, check_term(second)
    complement = re.match(rf"^(.+?)\s*-\s*{re.escape(successes)}$", second)
    if complement is not None:
        return successes, check_term(complement.group(1).strip())
    check_term(second)
    return successes, check_term(f"I({successes} + {second})")


def split_offset(tokens: list[Token], formula: str) -> tuple[list[Token], str | None]:
    """Remove a top-level ``+ offset(term)`` from right-hand-side tokens.

    Returns
    -------
    tokens : list of Token
        The right-hand side without the offset (and its ``+``).
    offset : str or None
        The checked term inside ``offset(...)``.
    """
    found = [i for i, t in enumerate(tokens) if t.kind == "atom" and _OFFSET.match(t.text)]
    if not found:
        return tokens, None
    if len(found) > 1:
        raise SpecError(f"formula {formula!r} has more than one offset(); add them in one term")
    i = found[0]
    before = tokens[i - 1].text if i > 0 else "+"
    after = tokens[i + 1] if i + 1 < len(tokens) else None
    if before != "+" or (after is not None and after.text not in ("+", "-")):
        raise SpecError(
            f"formula {formula!r}: offset(...) must be its own term joined with '+', "
            "e.g. y ~ x + offset(log(exposure)) + (1 | g)"
        )
    term = check_term(_OFFSET.match(tokens[i].text).group(1).strip())
    start = i - 1 if i > 0 else i
    stop = i + 1 if i > 0 or after is None else i + 2
    rest = tokens[:start] + tokens[stop:]
    if not rest:
        raise SpecError(f"formula {formula!r}: write y ~ 1 + offset(...) for an offset-only model")
    return rest, term
