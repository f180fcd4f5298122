"""Response families (the Family seam): one module per family, looked up by name.

>>> from hierlmm.families import get_family
>>> get_family("gaussian").link
'identity'
"""

from __future__ import annotations

from hierlmm.errors import SpecError
from hierlmm.families.base import Family
from hierlmm.families.gaussian import Gaussian
from hierlmm.families.student_t import StudentT

FAMILIES: dict[str, type[Family]] = {
    Gaussian.name: Gaussian,
    StudentT.name: StudentT,
}


def get_family(name: str) -> Family:
    """The :class:`Family` registered as ``name``.

    Raises
    ------
    SpecError
        If the family is known to the spec but not implemented yet.
    """
    try:
        return FAMILIES[name]()
    except KeyError:
        raise SpecError(
            f"family={name!r} is planned but not implemented yet; "
            f"available: {', '.join(FAMILIES)}"
        ) from None


__all__ = ["FAMILIES", "Family", "get_family"]
