"""Prior predictive draws: responses implied by the (data-scaled) priors alone.

This is the one place outside :func:`hierlmm.fit` that builds a model: the prior
predictive distribution needs the model stage, so it sits in the inference stage and
the reports only re-export it (:func:`hierlmm.report.prior_predictive`).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pymc as pm

from hierlmm._pytensor_setup import configure as configure_pytensor
from hierlmm.design import build_design
from hierlmm.design.design import Design
from hierlmm.errors import SpecError
from hierlmm.inference.result import Fit
from hierlmm.model import names
from hierlmm.model.builder import build_model
from hierlmm.spec.formula import check_spec_terms, parse_formula
from hierlmm.spec.schema import ModelSpec


def _prior_inputs(
    spec_or_fit: str | ModelSpec | Fit, data: pd.DataFrame | None, na_action: str
) -> tuple[ModelSpec, Design]:
    """The spec and design to draw from: the fit's own, or the spec encoded on ``data``."""
    if isinstance(spec_or_fit, Fit):
        return spec_or_fit.spec, spec_or_fit.design
    if isinstance(spec_or_fit, str):
        spec = parse_formula(spec_or_fit)
    elif isinstance(spec_or_fit, ModelSpec):
        spec = check_spec_terms(spec_or_fit)
    else:
        raise SpecError(
            "prior_predictive() takes a formula, a ModelSpec or a Fit, got "
            f"{type(spec_or_fit).__name__}"
        )
    if data is None:
        raise SpecError(
            "prior_predictive() needs data= with a formula or a spec (the priors scale with it)"
        )
    return spec, build_design(spec, data, na_action=na_action)


def prior_predictive(
    spec_or_fit: str | ModelSpec | Fit,
    data: pd.DataFrame | None = None,
    draws: int = 500,
    seed: int | np.random.Generator | None = None,
    *,
    na_action: str = "raise",
) -> np.ndarray:
    """Response draws from the prior predictive distribution.

    The default priors are scaled by the data (see :mod:`hierlmm.model.priors`), so the
    design (``X``, ``Z``, group sizes) and the response's location and scale matter.

    Parameters
    ----------
    spec_or_fit : str, ModelSpec or Fit
        A formula or spec (then ``data`` is required), or a fit (its spec and design).
    data : pandas.DataFrame, optional
    draws : int
    seed : int or numpy.random.Generator, optional
        Required unless ``spec_or_fit`` is a Fit (then it defaults to ``fit.seed``).
    na_action : {"raise", "drop"}

    Returns
    -------
    ndarray, shape (draws, n)
    """
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 1:
        raise SpecError(f"draws={draws!r} must be a positive integer")
    if seed is None:
        if not isinstance(spec_or_fit, Fit):
            raise SpecError("prior_predictive() draws at random: pass seed=<int> or a Generator")
        seed = spec_or_fit.seed
    spec, design = _prior_inputs(spec_or_fit, data, na_action)
    configure_pytensor()
    built = build_model(design=design, spec=spec, engine="sampled")
    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)  # silence the "Sampling: [...]" notice
    try:
        out = pm.sample_prior_predictive(
            draws=int(draws), model=built.model, var_names=[names.RESPONSE], random_seed=seed,
            return_inferencedata=False,
        )
    finally:
        pymc_log.setLevel(level)
    return np.asarray(out[names.RESPONSE], dtype=np.float64).reshape(int(draws), design.n)
