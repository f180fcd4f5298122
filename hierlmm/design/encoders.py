"""formulae's fitted encodings of the training rows, kept to encode new rows.

:func:`hierlmm.design.build_design` evaluates the fixed part and every random slope with
formulae once. The fitted objects remember what new rows need to be encoded in the same
way: stateful transforms (``center``, ``scale``, ``standardize``), ``poly`` bases and
categorical codings. :mod:`hierlmm.design.new_data` evaluates new rows through them, so
predicting never runs formulae on the training frame again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from formulae.matrices import CommonEffectsMatrix


@dataclass(frozen=True)
class TermEncoder:
    """formulae's fitted encoding of the right-hand side of one formula.

    Attributes
    ----------
    formula : str
        The formula evaluated on the training rows, e.g. ``"Reaction ~ 1 + Days"`` or
        ``"0 + log(dose)"``; used in messages.
    matrix : formulae.matrices.CommonEffectsMatrix or None
        The fitted right-hand side (it also holds the training matrix, shape (n, k), and a
        reference to the training frame); ``None`` when it has no column (``"y ~ 0"``).
    """

    formula: str
    matrix: CommonEffectsMatrix | None


@dataclass(frozen=True)
class Encoders:
    """The fitted encodings of a design's fixed part and random slopes.

    Attributes
    ----------
    fixed : TermEncoder
        Encodes the fixed-effects matrix ``X``, shape (m, p) on m new rows.
    slopes : Mapping of str to tuple of TermEncoder
        Grouping factor -> one encoder per slope of that factor, in spec order; each
        encodes one column of the factor's ``Z`` (shape (m,) on m new rows). A factor
        without slopes maps to ``()``. Read-only.
    """

    fixed: TermEncoder
    slopes: Mapping[str, tuple[TermEncoder, ...]]

    def __post_init__(self) -> None:
        slopes = {factor: tuple(encoders) for factor, encoders in self.slopes.items()}
        object.__setattr__(self, "slopes", MappingProxyType(slopes))
