"""Engines (the Engine seam): how a model's likelihood is built, sampled and finished.

``"sampled"`` samples every random effect; ``"collapsed"`` integrates the largest
factor's Gaussian effects out analytically, or every factor's when that is cheap
(:func:`hierlmm.engines.collapsed.engine.integrates_all`), and draws them exactly
afterwards; ``"quadrature"`` (opt-in) integrates a GLMM's one factor out by adaptive
Gauss-Hermite quadrature and draws its effects afterwards. A new
engine is a subpackage with an :class:`~hierlmm.engines.base.Engine` subclass plus one
line in :data:`ENGINES`.
"""

from __future__ import annotations

import logging

from hierlmm.design.design import Design
from hierlmm.engines.base import Engine
from hierlmm.engines.collapsed import CollapsedEngine
from hierlmm.engines.collapsed.engine import integrated_group
from hierlmm.engines.collapsed.series import series_nested
from hierlmm.engines.quadrature import QuadratureEngine
from hierlmm.engines.sampled import SampledEngine
from hierlmm.errors import SpecError
from hierlmm.families.base import Family
from hierlmm.spec.schema import ModelSpec

ENGINES: dict[str, type[Engine]] = {
    SampledEngine.name: SampledEngine,
    CollapsedEngine.name: CollapsedEngine,
    QuadratureEngine.name: QuadratureEngine,
}


_log = logging.getLogger(__name__)


def series_not_nested(spec: ModelSpec, design: Design) -> str | None:
    """Why an AR(1)/CAR(1) residual cannot be collapsed, or None when it can.

    The collapsed engine integrates the factor with most effects out; the residual's
    series must lie within its levels (e.g. the residual group is that factor), so
    that ``R`` is block-diagonal by level.
    """
    if spec.residual.kind == "iid" or not design.groups:
        return None
    group = integrated_group(design.groups)
    if series_nested(design.residual, group.codes):
        return None
    return (
        f"the residual series (within {design.residual.group!r}) are not nested in the "
        f"levels of {group.factor!r}, the factor the collapsed engine integrates out"
    )


def can_collapse(family: Family, spec: ModelSpec, design: Design) -> bool:
    """Whether the collapsed engine applies: a collapsible family, a factor, and iid
    residuals or AR(1)/CAR(1) series nested in the integrated factor's levels."""
    if not (family.collapsible and design.groups):
        return False
    return series_not_nested(spec, design) is None


def make_engine(name: str, design: Design, spec: ModelSpec, family: Family,
                sampler: str = "auto") -> Engine:
    """The engine ``name`` bound to a design; ``"auto"`` collapses whenever it can.

    ``sampler`` is the sampler asked for (it decides, for instance, how many factors the
    collapsed engine integrates out; see :meth:`Engine.choose_sampler`).

    Raises
    ------
    SpecError
        If ``"collapsed"`` is asked for a model it cannot integrate out.
    """
    if name == "auto":
        name = "collapsed" if can_collapse(family, spec, design) else "sampled"
        reason = series_not_nested(spec, design) if family.collapsible else None
        if reason:
            _log.info("engine='auto' uses the sampled engine: %s", reason)
    elif name == "collapsed" and not family.collapsible:
        raise SpecError(
            'engine="collapsed" needs a gaussian model: it integrates Gaussian random '
            f"effects out analytically and cannot fit family {spec.family!r} (link "
            f'{family.link!r}); use engine="sampled" or "auto" (which picks the sampled engine)'
        )
    elif name == "collapsed" and not can_collapse(family, spec, design):
        reason = series_not_nested(spec, design) if family.collapsible else None
        if reason:
            raise SpecError(
                f'engine="collapsed": {reason}; use engine="sampled" (or "auto", which '
                "falls back to it), or set the residual group to that factor"
            )
        raise SpecError(
            'engine="collapsed" needs a gaussian model and at least one grouping factor; '
            'use engine="sampled" or "auto"'
        )
    return ENGINES[name](design, spec, family, sampler)


__all__ = ["ENGINES", "Engine", "can_collapse", "make_engine"]
