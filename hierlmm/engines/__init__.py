"""Engines (the Engine seam): how a model's likelihood is built, sampled and finished.

``"sampled"`` samples every random effect; ``"collapsed"`` integrates the largest
factor's Gaussian effects out analytically, or every factor's when that is cheap
(:func:`hierlmm.engines.collapsed.engine.integrates_all`), and draws them exactly
afterwards. A new
engine is a subpackage with an :class:`~hierlmm.engines.base.Engine` subclass plus one
line in :data:`ENGINES`.
"""

from __future__ import annotations

from hierlmm.design.design import Design
from hierlmm.engines.base import Engine
from hierlmm.engines.collapsed import CollapsedEngine
from hierlmm.engines.sampled import SampledEngine
from hierlmm.errors import SpecError
from hierlmm.families.base import Family
from hierlmm.spec.schema import ModelSpec

ENGINES: dict[str, type[Engine]] = {
    SampledEngine.name: SampledEngine,
    CollapsedEngine.name: CollapsedEngine,
}


def can_collapse(family: Family, spec: ModelSpec, design: Design) -> bool:
    """Whether the collapsed engine applies: a collapsible family, iid residuals, a factor."""
    return family.collapsible and spec.residual.kind == "iid" and bool(design.groups)


def make_engine(name: str, design: Design, spec: ModelSpec, family: Family) -> Engine:
    """The engine ``name`` bound to a design; ``"auto"`` collapses whenever it can.

    Raises
    ------
    SpecError
        If ``"collapsed"`` is asked for a model it cannot integrate out.
    """
    if name == "auto":
        name = "collapsed" if can_collapse(family, spec, design) else "sampled"
    elif name == "collapsed" and not can_collapse(family, spec, design):
        raise SpecError(
            'engine="collapsed" needs a gaussian model with iid residuals and at least one '
            'grouping factor; use engine="sampled" or "auto"'
        )
    return ENGINES[name](design, spec, family)


__all__ = ["ENGINES", "Engine", "can_collapse", "make_engine"]
