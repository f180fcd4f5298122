"""Assemble the PyMC model of a :class:`~hierlmm.design.Design`.

``build_model(design=..., spec=..., engine=...)`` picks the family
(:mod:`hierlmm.families`) and the engine (:mod:`hierlmm.engines`), and returns a
:class:`BuiltModel`: the ``pm.Model`` plus the engine, whose inputs, structure key and
post-sampling step inference needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm

from hierlmm.design.design import Design
from hierlmm.engines import Engine, make_engine
from hierlmm.errors import SpecError
from hierlmm.families import get_family
from hierlmm.model.identifiability import check_identifiable
from hierlmm.spec.schema import ModelSpec

IMPLEMENTED_RESIDUALS = ("iid", "ar1", "car1")


@dataclass(frozen=True)
class BuiltModel:
    """A PyMC model and the engine that built it.

    Attributes
    ----------
    model : pm.Model
    engine_plan : Engine
        The engine bound to the design (inputs, structure key, post-sampling step).
    inputs : dict of str to ndarray
        The arrays the model reads as data containers.
    """

    model: pm.Model
    engine_plan: Engine
    inputs: dict[str, np.ndarray]

    @property
    def engine(self) -> str:
        """Name of the engine used, ``"sampled"`` or ``"collapsed"``."""
        return self.engine_plan.name

    @property
    def collapsed_factor(self) -> str | None:
        """Factor integrated out by the collapsed engine, if any."""
        return self.engine_plan.integrated_factor


def resolve_engine(engine: str, spec: ModelSpec, design: Design) -> str:
    """The concrete engine name ``engine`` (``"auto"`` included) selects for the model."""
    return make_engine(engine, design, spec, get_family(spec.family, spec.link)).name


def plan_model(*, design: Design, spec: ModelSpec, engine: str = "auto",
               sampler: str = "auto") -> Engine:
    """Check the spec can be fitted and bind family and engine to ``design``.

    Raises
    ------
    SpecError
        For a family or residual structure that is not implemented yet, or an engine
        that cannot fit the model.
    DataError
        If the data cannot identify the parameters (see
        :func:`hierlmm.model.identifiability.check_identifiable`).
    """
    family = get_family(spec.family, spec.link)
    if spec.residual.kind not in IMPLEMENTED_RESIDUALS:
        raise SpecError(f"residual={spec.residual.kind!r} is planned but not implemented yet")
    if spec.residual.kind != "iid" and spec.family != "gaussian":
        raise SpecError(
            f'residual kind "{spec.residual.kind}" needs family="gaussian" (got '
            f'"{spec.family}"); use residual kind "iid" for other families'
        )
    family.check_response(design.y, spec.response)
    check_identifiable(design, family)
    return make_engine(engine, design, spec, family, sampler)


def build_model(*, design: Design, spec: ModelSpec, engine: str = "auto") -> BuiltModel:
    """Build the PyMC model for ``design`` under ``spec``.

    Parameters
    ----------
    design : Design
        Encoded data (n rows, p fixed columns, K grouping factors).
    spec : ModelSpec
        Family, priors and residual structure.
    engine : {"auto", "collapsed", "sampled", "quadrature"}

    Returns
    -------
    BuiltModel
    """
    plan = plan_model(design=design, spec=spec, engine=engine)
    inputs = plan.inputs()
    return BuiltModel(model=plan.build(inputs), engine_plan=plan, inputs=inputs)
