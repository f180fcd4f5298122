"""Human labels for the internal parameter names of report tables, for figure axes.

Report tables name rows compactly (``"sd(Intercept|Subject)"``, ``"icc(batch:cask)"``);
figures show what a reader would write in a paper (``"SD of Subject intercepts"``,
``"Variance share of batch:cask"``). Names without a known pattern (fixed effects) are
returned unchanged.
"""

from __future__ import annotations

import re

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
    if fn == "corr" and "," in terms:
        a, b = terms.split(",", 1)
        second = effect_label(b, factor).removeprefix(f"{factor} ")
        return f"Corr. of {effect_label(a, factor)} and {second}"
    if fn in _STAT:
        return f"{_STAT[fn]} of {effect_label(terms, factor)}"
    return name
