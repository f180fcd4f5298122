"""Units of data columns (``{"Reaction": "ms", "Days": "days"}``), shown in figures.

Units change no number: they are labels that :func:`hierlmm.fit` (``units=``),
:func:`hierlmm.write_report` (``units=``) and a model file's ``[units]`` section attach
to the columns the model reads, so figure axes read ``"Reaction (ms)"``,
``"variance of Reaction (ms²)"`` or ``"Subject slopes on Days (ms/days)"``. A key that
is not a column of the model is refused, naming the columns it may be.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from hierlmm.errors import SpecError
from hierlmm.spec.schema import ModelSpec
from hierlmm.spec.transforms import term_columns


def model_columns(spec: ModelSpec) -> tuple[str, ...]:
    """Every data column ``spec`` reads: response, fixed terms, slopes, factors, residual.

    Examples
    --------
    >>> from hierlmm.spec import parse_formula
    >>> model_columns(parse_formula("Reaction ~ Days + (Days | Subject)"))
    ('Reaction', 'Days', 'Subject')
    """
    columns = list(term_columns(spec.response))
    for term in spec.fixed:
        columns += term_columns(term)
    for g in spec.groups:
        columns += [c for term in g.slopes for c in term_columns(term)] + list(g.columns)
    columns += [c for c in (spec.residual.time, spec.residual.group) if c is not None]
    return tuple(dict.fromkeys(columns))


def check_units(units: object, spec: ModelSpec, where: str = "units") -> dict[str, str]:
    """Return ``units`` as a dict after checking it against the columns of ``spec``.

    Parameters
    ----------
    units : mapping of str to str, or None
        Column name -> unit, e.g. ``{"Reaction": "ms"}``; ``None`` gives ``{}``.
    spec : ModelSpec
    where : str
        Name of the option in messages (``"units"`` or ``"[units]"``).

    Returns
    -------
    dict of str to str
        Units with surrounding spaces removed, in the model's column order.

    Raises
    ------
    SpecError
        If ``units`` is not a mapping, a unit is not a non-empty string, or a key is not
        a column the model reads.
    """
    if units is None:
        return {}
    if not isinstance(units, Mapping):
        raise SpecError(f"{where} must map column names to unit strings, e.g. "
                        f'{{"Reaction": "ms"}}; got {type(units).__name__}')
    columns = model_columns(spec)
    for key, unit in units.items():
        if key not in columns:
            close = difflib.get_close_matches(str(key), columns, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise SpecError(f"{where} names {key!r}, which is not a column of the model; "
                            f"{hint}the model's columns are {', '.join(columns)}")
        if not isinstance(unit, str) or not unit.strip():
            raise SpecError(f"{where}: the unit of {key!r} must be a non-empty string, "
                            f"got {unit!r}")
    return {c: units[c].strip() for c in columns if c in units}
