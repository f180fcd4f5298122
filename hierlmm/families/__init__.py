"""Response families (the Family seam): one module per family, looked up by name.

>>> from hierlmm.families import get_family
>>> get_family("gaussian").link
'identity'
"""

from __future__ import annotations

from hierlmm.errors import SpecError
from hierlmm.families.base import Family
from hierlmm.families.bernoulli import Bernoulli
from hierlmm.families.binomial import Binomial
from hierlmm.families.gaussian import Gaussian
from hierlmm.families.negbinomial import NegBinomial
from hierlmm.families.poisson import Poisson
from hierlmm.families.student_t import StudentT

FAMILIES: dict[str, type[Family]] = {
    Gaussian.name: Gaussian,
    StudentT.name: StudentT,
    Bernoulli.name: Bernoulli,
    Binomial.name: Binomial,
    Poisson.name: Poisson,
    NegBinomial.name: NegBinomial,
}


def get_family(name: str, link: str | None = None) -> Family:
    """The :class:`Family` registered as ``name``, with ``link`` (None: its default).

    >>> get_family("bernoulli", "probit").link
    'probit'

    Raises
    ------
    SpecError
        If the family is known to the spec but not implemented yet.
    """
    try:
        cls = FAMILIES[name]
    except KeyError:
        raise SpecError(
            f"family={name!r} is planned but not implemented yet; "
            f"available: {', '.join(FAMILIES)}"
        ) from None
    return cls(link)


__all__ = ["FAMILIES", "Family", "get_family"]
