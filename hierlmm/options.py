"""Option values accepted at the public boundary, as ``Literal`` aliases.

Each alias is checked once, where a user hands it to hierlmm, by :func:`check_option`.
"""

from __future__ import annotations

from numbers import Integral
from typing import Literal, get_args

from hierlmm.errors import SpecError

Family = Literal["gaussian", "student_t", "bernoulli", "binomial", "poisson", "negbinomial"]
Engine = Literal["auto", "collapsed", "sampled", "quadrature"]
Sampler = Literal["auto", "nutpie", "pymc", "numpyro", "blackjax", "independence"]
ResidualKind = Literal["iid", "ar1", "car1"]
GapsMode = Literal["error", "order"]
NaAction = Literal["raise", "drop"]
Link = Literal["identity", "logit", "probit", "log"]

# links each family accepts; the first is its default (docs/priors.md)
LINKS: dict[str, tuple[str, ...]] = {
    "gaussian": ("identity",),
    "student_t": ("identity",),
    "bernoulli": ("logit", "probit"),
    "binomial": ("logit", "probit"),
    "poisson": ("log",),
    "negbinomial": ("log",),
}
COUNT_FAMILIES = ("bernoulli", "binomial", "poisson", "negbinomial")  # unscaled responses

MAX_DRAWS = 1_000_000  # draws and tune per chain (docs/model-files.md)
MAX_CHAINS = 64


def allowed(alias: object) -> tuple[str, ...]:
    """Return the values a ``Literal`` alias admits."""
    return tuple(get_args(alias))


def check_option(name: str, value: object, alias: object) -> str:
    """Return ``value`` if the ``Literal`` alias admits it, else raise :class:`SpecError`.

    Parameters
    ----------
    name : str
        Option name, used in the message (e.g. ``"sampler"``).
    value : object
        The value the user gave.
    alias : typing.Literal
        The alias listing admitted values.
    """
    choices = allowed(alias)
    if value not in choices:
        raise SpecError(
            f"option {name}={value!r} is not recognised; choose one of {', '.join(choices)}"
        )
    return str(value)


def check_count(name: str, value: object, minimum: int, maximum: int) -> int:
    """Return ``value`` if it is an integer in ``[minimum, maximum]``, else raise.

    Parameters
    ----------
    name : str
        Option name, used in the message (e.g. ``"draws"``).
    value : object
        The value the user gave; ``bool`` is refused.
    minimum, maximum : int
        Inclusive bounds.

    Raises
    ------
    SpecError
        Naming the option and both bounds.
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or not (
        minimum <= value <= maximum
    ):
        raise SpecError(f"{name}={value!r} must be an integer >= {minimum} and <= {maximum:,}")
    return int(value)
