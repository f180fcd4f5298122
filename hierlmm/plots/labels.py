"""Human labels for the internal parameter names of report tables, for figure axes.

Report tables name rows compactly (``"sd(Intercept|Subject)"``, ``"icc(batch:cask)"``);
figures show what a reader would write in a paper (``"SD of Subject intercepts"``,
``"Variance share of batch:cask"``). Names without a known pattern (fixed effects) are
returned unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hierlmm.model.names import INTERCEPT

_CALL = re.compile(r"^(?P<fn>[a-z_]+)\((?P<args>.*)\)$")
_RESIDUAL_SD = ("sigma", "sd(residual)")
_RESIDUAL_VAR = ("sigma^2", "var(residual)")
_STAT = {"sd": "SD", "var": "Variance", "share": "Variance share"}
_GROUP_STAT = {
    "icc": "Variance share of {f}",
    "corr_same": "Corr. within the same {f}",
    "design_effect": "Design effect of {f}",
}
_RATER_ICC = {"icc_consistency": "Consistency", "icc_agreement": "Absolute agreement"}


def effect_label(term: str, factor: str) -> str:
    """``"Subject intercepts"`` or ``"Subject slopes on Days"``.

    Examples
    --------
    >>> effect_label("Intercept", "Subject"), effect_label("Days", "Subject")
    ('Subject intercepts', 'Subject slopes on Days')
    """
    return f"{factor} intercepts" if term == INTERCEPT else f"{factor} slopes on {term}"


def parameter_label(name: str) -> str:
    """A reader's label for a report-table parameter name.

    Parameters
    ----------
    name : str
        E.g. ``"sd(Intercept|Subject)"``, ``"corr(Intercept,Days|Subject)"``,
        ``"share(residual)"``, ``"icc(Subject)"``, ``"sigma"`` or a fixed-effect name.

    Returns
    -------
    str

    Examples
    --------
    >>> parameter_label("sd(Intercept|Subject)")
    'SD of Subject intercepts'
    >>> parameter_label("corr(Intercept,Days|Subject)")
    'Corr. of Subject intercepts and slopes on Days'
    >>> parameter_label("sigma"), parameter_label("share(residual)")
    ('Residual SD', 'Variance share of residual')
    >>> parameter_label("corr_same(batch:cask)"), parameter_label("Days")
    ('Corr. within the same batch:cask', 'Days')
    >>> parameter_label("icc_agreement(patient|rater)")
    'Absolute agreement of patient scores across rater'
    """
    if name in _RESIDUAL_SD:
        return "Residual SD"
    if name in _RESIDUAL_VAR:
        return "Residual variance"
    match = _CALL.match(name)
    if match is None:
        return name
    fn, args = match["fn"], match["args"]
    if fn in _GROUP_STAT and "|" not in args:
        return _GROUP_STAT[fn].format(f=args)
    if "|" not in args:
        return f"{_STAT[fn]} of {args}" if fn in _STAT else name
    terms, factor = args.rsplit("|", 1)
    if fn in _RATER_ICC:  # rater_icc: terms is the rated factor, factor the raters
        return f"{_RATER_ICC[fn]} of {terms} scores across {factor}"
    if fn == "corr" and "," in terms:
        a, b = terms.split(",", 1)
        second = effect_label(b, factor).removeprefix(f"{factor} ")
        return f"Corr. of {effect_label(a, factor)} and {second}"
    if fn in _STAT:
        return f"{_STAT[fn]} of {effect_label(terms, factor)}"
    return name


Units = Mapping[str, str]
"""Unit of each data column, e.g. ``{"Reaction": "ms", "Days": "days"}`` (``Fit.units``)."""


def with_unit(label: str, unit: str | None) -> str:
    """``"Reaction (ms)"``; the label alone without a unit.

    Examples
    --------
    >>> with_unit("Reaction", "ms"), with_unit("Days", None)
    ('Reaction (ms)', 'Days')
    """
    return f"{label} ({unit})" if unit else label


def squared_unit(unit: str | None) -> str | None:
    """The unit of a variance: ``"ms²"``, ``"(m/s)²"``.

    Examples
    --------
    >>> squared_unit("ms"), squared_unit("m/s"), squared_unit(None)
    ('ms²', '(m/s)²', None)
    """
    if not unit:
        return None
    return f"{unit}²" if unit.isalnum() else f"({unit})²"


def effect_unit(term: str, response: str, units: Units | None) -> str | None:
    """Unit of a coefficient on ``term``: the response's for an intercept, a ratio else.

    Examples
    --------
    >>> units = {"Reaction": "ms", "Days": "days"}
    >>> effect_unit("Intercept", "Reaction", units), effect_unit("Days", "Reaction", units)
    ('ms', 'ms/days')
    >>> effect_unit("Age", "Reaction", units)
    'ms per unit of Age'
    """
    units = units or {}
    response_unit, term_unit = units.get(response), units.get(term)
    if term == INTERCEPT:
        return response_unit
    if response_unit and term_unit:
        return f"{response_unit}/{term_unit}"
    if response_unit:
        return f"{response_unit} per unit of {term}"
    return f"per {term_unit}" if term_unit else None
