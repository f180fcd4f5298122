"""The lme4 formula front end: ``"Reaction ~ Days + (Days | Subject)"`` -> :class:`ModelSpec`.

Supported syntax
----------------
- response: one column or allowed transform (``y``, ``log(y)``);
- fixed part: terms joined by ``+``; ``a:b`` (interaction), ``a*b`` (``a + b + a:b``),
  ``a/b`` (``a + a:b``), parentheses for grouping (``(a + b):c``); ``1`` adds and ``0``
  or ``- 1`` removes the intercept; duplicated terms are kept once;
- random terms ``(lhs | factor)`` (correlated) and ``(lhs || factor)`` (independent),
  where ``lhs`` uses the fixed-part syntax (an intercept is implied unless ``0`` or
  ``- 1`` is given) and ``factor`` is a column, ``a:b`` (interaction of columns) or
  ``a/b/c`` (nesting: ``a``, ``a:b``, ``a:b:c``).

Every response, fixed and slope term goes through
:func:`hierlmm.spec.transforms.check_term` before it reaches a :class:`ModelSpec`.
A factor listed twice (``(1 | g) + (0 + x | g)``) raises :class:`SpecError`: write one
term instead. Reference: Bates, Maechler, Bolker and Walker (2015), *Fitting Linear
Mixed-Effects Models Using lme4*, J. Stat. Softw. 67(1), table 2.
"""

from __future__ import annotations

import keyword
import re

from hierlmm.errors import SpecError
from hierlmm.options import Family
from hierlmm.spec.glm_terms import binomial_response, split_offset
from hierlmm.spec.scan import Token, scan
from hierlmm.spec.schema import GroupSpec, ModelSpec, PriorSpec, ResidualSpec, check_residual
from hierlmm.spec.transforms import check_term

_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
Term = tuple[str, ...]  # the atoms of one term; ("a", "b") is "a:b"


class _Sum:
    """Result of parsing a sum: intercept marker (``None`` when not given) and terms."""

    def __init__(self) -> None:
        self.intercept: bool | None = None
        self.terms: list[Term] = []
        self.groups: list[GroupSpec] = []


class _Parser:
    """Recursive-descent parser over the tokens of one side of a formula.

    Grammar (``top`` marks the right-hand side itself, where random terms may appear)::

        sum         := ["+" | "-"] piece (("+" | "-") piece)*
        piece       := NUMBER | random | product
        random      := "(" sum ("|" | "||") factor ")"           (top level only)
        product     := interaction (("*" | "/") interaction)*
        interaction := atom (":" atom)*
        atom        := ATOM | "(" sum ")"
    """

    def __init__(self, tokens: list[Token], formula: str) -> None:
        self.tokens = tokens
        self.formula = formula
        self.pos = 0

    # -- token helpers ---------------------------------------------------------------
    def peek(self, offset: int = 0) -> Token | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def peek_text(self, offset: int = 0) -> str:
        tok = self.peek(offset)
        return tok.text if tok is not None else ""

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise self.error(
                "the formula ends too early; a term is missing after the last operator"
            )
        self.pos += 1
        return tok

    def error(self, message: str) -> SpecError:
        return SpecError(f"formula {self.formula!r}: {message}")

    def unexpected(self, tok: Token, hint: str) -> SpecError:
        """Error for a misplaced token; a misplaced atom is first checked as a term."""
        if tok.kind == "atom" and not tok.text[0].isdigit():
            check_term(tok.text)  # names hostile words such as 'if' or 'import' as such
        index = self.tokens.index(tok)
        previous = self.tokens[index - 1] if index > 0 else None
        for atom in (previous, tok):
            if atom is not None and atom.kind == "atom" and keyword.iskeyword(atom.text):
                raise self.error(
                    f"the Python keyword {atom.text!r} at column {atom.pos + 1} is not a term; "
                    f"quote a column of that name with backticks: `{atom.text}`"
                )
        return self.error(f"unexpected {tok.text!r} at column {tok.pos + 1}; {hint}")

    # -- grammar ---------------------------------------------------------------------
    def parse_sum(self, *, top: bool) -> _Sum:
        out = _Sum()
        sign = "+"
        if self.peek_text() in ("+", "-"):
            sign = self.take().text
        while True:
            self.parse_piece(out, sign=sign, top=top)
            if self.peek_text() not in ("+", "-"):
                return out
            sign = self.take().text

    def parse_piece(self, out: _Sum, *, sign: str, top: bool) -> None:
        tok = self.peek()
        if tok is None or tok.kind in ("rpar", "bar"):
            raise self.error("a term is missing (two operators in a row, or nothing after one)")
        if tok.kind == "atom" and tok.text[0].isdigit() and self._piece_ends(1):
            self.take()
            if tok.text not in ("0", "1"):
                raise self.error(f"the number {tok.text} is not a term; use 1 or 0 / -1")
            out.intercept = (tok.text == "1") == (sign == "+")
            return
        if tok.kind == "lpar" and self._has_bar_inside():
            if not top:
                raise self.error("a random term (... | ...) can only appear at the top level")
            if sign == "-":
                raise self.error("a random term cannot be removed with '-'")
            out.groups.extend(self.parse_random())
            return
        if tok.kind == "lpar" and top and self._group_is_whole_piece():
            raise self.error(
                f"the parenthesised term at column {tok.pos + 1} has no '|'; random terms are "
                "written (terms | factor), e.g. (1 + Days | Subject)"
            )
        terms = self.parse_product()
        if sign == "-":
            raise self.error(
                f"removing the term {':'.join(terms[0])!r} with '-' is not supported; "
                "'-' may only remove the intercept (- 1)"
            )
        out.terms = _union(out.terms + terms)

    def _piece_ends(self, offset: int) -> bool:
        tok = self.peek(offset)
        return tok is None or tok.text in ("+", "-") or tok.kind in ("rpar", "bar")

    def _matching(self, start: int) -> int:
        """Index of the ``rpar`` closing the ``lpar`` at ``start`` (the scanner balanced them)."""
        depth = 0
        for i in range(start, len(self.tokens)):
            kind = self.tokens[i].kind
            depth += (kind == "lpar") - (kind == "rpar")
            if depth == 0:
                return i
        raise self.error("unbalanced parentheses")  # pragma: no cover - scan() checks this

    def _has_bar_inside(self) -> bool:
        end = self._matching(self.pos)
        depth = 0
        for tok in self.tokens[self.pos + 1 : end]:
            depth += (tok.kind == "lpar") - (tok.kind == "rpar")
            if tok.kind == "bar" and depth == 0:
                return True
        return False

    def _group_is_whole_piece(self) -> bool:
        end = self._matching(self.pos)
        return self._piece_ends(end + 1 - self.pos)

    def parse_random(self) -> list[GroupSpec]:
        open_tok = self.take()
        if self.peek() is not None and self.peek().kind == "bar":
            raise self.error(
                f"the random term at column {open_tok.pos + 1} has nothing left of "
                f"'{self.peek().text}'; write e.g. (1 | g)"
            )
        lhs = self.parse_sum(top=False)
        bar = self.take()
        if bar.kind != "bar":
            raise self.unexpected(bar, "a random term reads (terms | factor)")
        factors = self.parse_factor(bar)
        close = self.take()
        if close.kind != "rpar":
            raise self.error(
                f"unexpected {close.text!r} in the grouping factor of the random term at "
                f"column {open_tok.pos + 1}; a factor is a column, a:b or a/b"
            )
        if not self._piece_ends(0):
            raise self.error(
                f"a random term cannot be combined with {self.peek_text()!r}; join random "
                "terms with '+'"
            )
        slopes = tuple(_term_text(t) for t in lhs.terms)
        intercept = True if lhs.intercept is None else lhs.intercept
        correlated = bar.text == "|"
        try:
            return [
                GroupSpec(f, intercept=intercept, slopes=slopes, correlated=correlated)
                for f in factors
            ]
        except SpecError as exc:
            raise self.error(str(exc)) from exc

    def parse_factor(self, bar: Token) -> list[str]:
        """Parse ``a``, ``a:b`` or ``a/b/c`` up to the closing parenthesis."""
        levels: list[list[str]] = [[]]
        expect_name = True
        while self.peek() is not None and self.peek().kind != "rpar":
            tok = self.take()
            if expect_name and tok.kind == "atom":
                if not _COLUMN_RE.match(tok.text):
                    raise self.error(
                        f"grouping factor {tok.text!r} is not a column name; a factor is a "
                        "column, a:b (interaction) or a/b (nesting)"
                    )
                levels[-1].append(tok.text)
            elif not expect_name and tok.text in (":", "/"):
                if tok.text == "/":
                    levels.append([])
            else:
                raise self.error(
                    f"unexpected {tok.text!r} in the grouping factor after '{bar.text}'; "
                    "a factor is a column, a:b (interaction) or a/b (nesting)"
                )
            expect_name = not expect_name
        if expect_name:
            what = "is empty" if levels == [[]] else "ends with an operator"
            raise self.error(f"the grouping factor after '{bar.text}' {what}; write e.g. (1 | g)")
        nested = [":".join(sum(levels[: i + 1], [])) for i in range(len(levels))]
        return nested

    def parse_product(self) -> list[Term]:
        terms = self.parse_interaction()
        while self.peek_text() in ("*", "/", "**"):
            op = self.take().text
            if op == "**":
                raise self.error(
                    "'**' between terms is not supported; for a squared term write I(x ** 2)"
                )
            right = self.parse_interaction()
            if op == "*":
                terms = _union(terms + right + _interact(terms, right))
            else:
                outer = _union_atoms(terms)
                terms = _union(terms + [_dedupe(outer + t) for t in right])
            terms.sort(key=len)  # main effects first, as R and patsy order an expansion
        return terms

    def parse_interaction(self) -> list[Term]:
        terms = self.parse_atom()
        while self.peek_text() == ":":
            self.take()
            terms = _interact(terms, self.parse_atom())
        return terms

    def parse_atom(self) -> list[Term]:
        tok = self.take()
        if tok.kind == "lpar":
            inner = self.parse_sum(top=False)
            close = self.take()
            if close.kind != "rpar":
                raise self.unexpected(close, "expected ')'")
            if inner.intercept is not None:
                raise self.error("1, 0 and -1 (the intercept) may not appear inside parentheses")
            return inner.terms
        if tok.kind != "atom":
            raise self.error(f"unexpected {tok.text!r} at column {tok.pos + 1}")
        if tok.text[0].isdigit():
            before = self.tokens[self.pos - 3 : self.pos - 1]
            if len(before) == 2 and before[0].kind == "atom" and before[1].text == ":":
                check_term(f"{before[0].text}:{tok.text}")  # names 'lambda: 1' as hostile
            raise self.error(
                f"the number {tok.text} cannot be combined with other terms; "
                "numbers are only allowed as the intercept markers 1, 0 and -1"
            )
        return [(check_term(tok.text),)]


def _dedupe(atoms: Term) -> Term:
    return tuple(dict.fromkeys(atoms))


def _interact(left: list[Term], right: list[Term]) -> list[Term]:
    return _union([_dedupe(a + b) for a in left for b in right])


def _union_atoms(terms: list[Term]) -> Term:
    return _dedupe(tuple(atom for t in terms for atom in t))


def _union(terms: list[Term]) -> list[Term]:
    """Keep the first of terms with the same set of atoms (``a:b`` equals ``b:a``)."""
    seen: dict[frozenset[str], Term] = {}
    for t in terms:
        seen.setdefault(frozenset(t), t)
    return list(seen.values())


def _term_text(term: Term) -> str:
    return check_term(":".join(term))


def _split_response(tokens: list[Token], formula: str) -> tuple[str, list[Token]]:
    tildes = [i for i, t in enumerate(tokens) if t.kind == "tilde"]
    if not tildes:
        raise SpecError(f"formula {formula!r} has no '~'; write it as 'response ~ terms'")
    if len(tildes) > 1:
        raise SpecError(f"formula {formula!r} has more than one '~'")
    lhs, rhs = tokens[: tildes[0]], tokens[tildes[0] + 1 :]
    if not lhs:
        raise SpecError(f"formula {formula!r} has no response left of '~'")
    if len(lhs) != 1 or lhs[0].kind != "atom":
        text = formula[: tokens[tildes[0]].pos].strip()
        check_term(text)  # a hostile response is named as such, not just as "not one column"
        raise SpecError(
            f"formula {formula!r}: the response {text!r} must be one column or an allowed "
            "transform such as log(y)"
        )
    if not rhs:
        raise SpecError(
            f"formula {formula!r} has nothing right of '~'; write '{lhs[0].text} ~ 1' for an "
            "intercept-only model"
        )
    return check_term(lhs[0].text), rhs


def _check_factors(groups: list[GroupSpec], formula: str) -> None:
    seen: set[str] = set()
    for g in groups:
        if g.factor in seen:
            raise SpecError(
                f"formula {formula!r} lists the grouping factor {g.factor!r} twice; merge its "
                f"terms into one random term, e.g. (1 + x | {g.factor}) for correlated or "
                f"(1 + x || {g.factor}) for independent effects"
            )
        seen.add(g.factor)


def _glm_family(family: Family | None, trials: str | None, formula: str) -> Family:
    """The family: ``"binomial"`` for a p()/cbind() response, else ``"gaussian"`` by default."""
    if trials is None:
        return "gaussian" if family is None else family
    if family not in (None, "binomial"):
        raise SpecError(
            f"formula {formula!r} has a binomial response (p() or cbind()) but "
            f'family={family!r}; use family="binomial" or a single response column'
        )
    return "binomial"


def parse_formula(
    formula: str,
    *,
    family: Family | None = None,
    priors: PriorSpec | None = None,
    residual: ResidualSpec | None = None,
    link: str | None = None,
) -> ModelSpec:
    """Parse an lme4-style formula into a :class:`ModelSpec`.

    Parameters
    ----------
    formula : str
        ``"response ~ fixed terms + (lhs | factor) + ..."``, e.g.
        ``"Reaction ~ Days + (Days | Subject)"``.
    family : str or None
        Response family, checked against :data:`hierlmm.options.Family`; ``None`` gives
        ``"binomial"`` for a ``p(s, n)`` / ``cbind(s, f)`` response, else ``"gaussian"``.
    link : str or None
        Link function (``None``: the family's default; see :data:`hierlmm.options.LINKS`).
    priors : PriorSpec or None
        Prior multipliers; defaults to ``PriorSpec()``.
    residual : ResidualSpec or None
        Residual structure; defaults to ``ResidualSpec()`` (iid). Its ``group`` defaults
        to the formula's first grouping factor at the design stage.

    Returns
    -------
    ModelSpec
        ``parse_formula(spec.formula) == spec`` holds for every spec.

    Raises
    ------
    SpecError
        Naming the offending part: missing ``~`` or response, unbalanced parentheses,
        a random term without ``|``, an empty or non-column grouping factor, a factor
        listed twice, a term outside the allowed transforms, or a ``residual`` that is not
        a :class:`ResidualSpec`.
    """
    if not isinstance(formula, str):
        raise SpecError(f"formula must be a string, got {type(formula).__name__}")
    tokens = scan(formula)
    binomial = None
    if tokens and tokens[0].kind == "atom":
        binomial = binomial_response(tokens[0].text, formula)
    if binomial is not None:
        tokens = [Token("atom", binomial[0], tokens[0].pos), *tokens[1:]]
    response, rhs = _split_response(tokens, formula)
    rhs, offset = split_offset(rhs, formula)
    parser = _Parser(rhs, formula)
    parsed = parser.parse_sum(top=True)
    if parser.peek() is not None:
        tok = parser.peek()
        hint = (
            "'|' belongs inside a random term such as (1 | g)"
            if tok.kind == "bar"
            else "join terms with '+'"
        )
        raise parser.unexpected(tok, hint)
    _check_factors(parsed.groups, formula)
    residual = check_residual(residual)
    return ModelSpec(
        response=response,
        fixed=tuple(_term_text(t) for t in parsed.terms),
        intercept=True if parsed.intercept is None else parsed.intercept,
        groups=tuple(parsed.groups),
        family=_glm_family(family, None if binomial is None else binomial[1], formula),
        priors=PriorSpec() if priors is None else priors,
        residual=ResidualSpec() if residual is None else residual,
        link=link,
        trials=None if binomial is None else binomial[1],
        offset=offset,
    )


def check_spec_terms(spec: ModelSpec) -> ModelSpec:
    """Check that a spec built without a formula holds only single, allowed terms.

    The response, each fixed term and each slope must be one term of the formula syntax
    (``"a:b"`` is one term, ``"a*b"`` or ``"a + b"`` are not) and pass
    :func:`~hierlmm.spec.transforms.check_term`. Returns ``spec`` unchanged.
    """
    check_term(spec.response)
    if len(scan(spec.response)) != 1:
        raise SpecError(
            f"response {spec.response!r} must be one column or an allowed transform such as log(y)"
        )
    for extra in (spec.trials, spec.offset):
        if extra is not None:
            check_term(extra)
    where = [("fixed term", t) for t in spec.fixed]
    where += [(f"slope of {g.factor!r}", s) for g in spec.groups for s in g.slopes]
    for what, text in where:
        parser = _Parser(scan(text), text)
        try:
            terms = parser.parse_product()
        except SpecError as exc:
            raise SpecError(f"{what} {text!r} is not a valid term: {exc}") from exc
        if parser.peek() is not None or len(terms) != 1:
            raise SpecError(
                f"{what} {text!r} is not a single term; list each term separately "
                "(e.g. 'a', 'b', 'a:b' instead of 'a*b')"
            )
    return spec
