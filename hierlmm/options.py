"""Option values accepted at the public boundary, as ``Literal`` aliases.

Each alias is checked once, where a user hands it to hierlmm, by :func:`check_option`.
"""

from __future__ import annotations

from typing import Literal, get_args

from hierlmm.errors import SpecError

Family = Literal["gaussian", "student_t", "bernoulli", "binomial", "poisson", "negbinomial"]
Engine = Literal["auto", "collapsed", "sampled"]
Sampler = Literal["nutpie", "pymc", "numpyro", "blackjax"]
ResidualKind = Literal["iid", "ar1", "car1"]
NaAction = Literal["raise", "drop"]


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
