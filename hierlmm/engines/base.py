"""The :class:`Engine` seam: how a model's likelihood is built, sampled and finished.

An engine is bound to one ``(design, spec, family)``. It owns

- its **inputs**: every array the model reads (data, statistics, prior scales) as
  named numpy arrays, which become data containers (``pm.Data``), never graph
  constants, so a compiled model is reused for a new response or new data of the same
  shapes (:meth:`Engine.structure_key` says when);
- its **model terms** (:meth:`Engine.add_likelihood`), on top of the terms every engine
  shares: centred fixed effects, one covariance per grouping factor, the family's own
  parameters and the non-centred effects of the factors it samples;
- its **post-sampling step** (:meth:`Engine.finish`), e.g. exact draws of effects that
  were integrated out;
- its **backend preference** (:meth:`Engine.prefers_python_callback`) and its choice of
  sampler for ``sampler="auto"`` (:meth:`Engine.choose_sampler`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from hierlmm._pytensor_setup import PYTHON_MODE
from hierlmm._pytensor_setup import configure as configure_pytensor
from hierlmm.design.design import Design, GroupDesign
from hierlmm.errors import SpecError
from hierlmm.families.base import Family
from hierlmm.model import names
from hierlmm.model.fixed import add_fixed_effects
from hierlmm.model.packing import pack, pack_layout, unpack
from hierlmm.model.priors import intercept_index, prior_inputs
from hierlmm.model.random_effects import (
    add_covariance,
    add_effects,
    group_contribution,
    group_coords,
)
from hierlmm.residuals import ResidualStructure, get_residual
from hierlmm.spec.schema import ModelSpec


def model_coords(design: Design) -> dict[str, list[str]]:
    """Coordinates of every dim: fixed terms, and per factor its levels and terms."""
    coords: dict[str, list[str]] = {names.FIXED_DIM: list(design.fixed_names)}
    for g in design.groups:
        coords.update(group_coords(g))
    return coords


NEAR_PROBES = (3.0,)  # independence sampler: split-t probe distances, in Laplace SDs ...
FAR_PROBES = (3.0, 9.0)  # ... and far out too, where a log-density is cheap

FEW_LEVELS = 12  # centred factors with at most this many levels centre around the intercept

@dataclass(frozen=True)
class IndependenceSettings:
    """An engine's settings for the independence sampler
    (:mod:`hierlmm.inference.independence`).

    Attributes
    ----------
    warmup : int
        Warm-up proposals per chain, at most.
    threads : int
        Threads evaluating proposals side by side (:mod:`hierlmm.engines.threads`): more
        than 1 only for a log-density that spends its time without the GIL.
    probes : tuple of float
        Distances (Laplace SDs) at which the base proposal, Geweke's split-t, probes the
        log-density along each Laplace axis on either side
        (:func:`~hierlmm.inference.independence.split_scales`); empty: the Laplace t.
    thin : int
        Run chains ``thin`` times longer and keep every ``thin``-th state (the
        redo of a run that narrowly failed its diagnostics, :func:`hierlmm.fit`).
    """

    warmup: int
    threads: int = 1
    probes: tuple[float, ...] = FAR_PROBES
    thin: int = 1


class Engine(ABC):
    """How one ``(design, spec, family)`` is turned into a model and finished.

    Parameters
    ----------
    design : Design
    spec : ModelSpec
    family : Family
    sampler : str
        The sampler asked for (``"auto"`` lets :meth:`choose_sampler` decide).
    """

    name: ClassVar[str]
    #: Whether the independence sampler may run this engine's models (few parameters).
    supports_independence: ClassVar[bool] = False
    #: Pack the inputs into one data container per dtype (:mod:`hierlmm.model.packing`):
    #: cuts nutpie's numba compile; needs every input to have a static shape.
    packs_inputs: ClassVar[bool] = False

    def __init__(self, design: Design, spec: ModelSpec, family: Family,
                 sampler: str = "auto") -> None:
        self.design, self.spec, self.family = design, spec, family
        self.sampler_request = sampler
        self.intercept_index = intercept_index(design)
        self.residual: ResidualStructure | None = get_residual(spec.residual.kind)

    # ------------------------------------------------------------------- structure
    @property
    def integrated_factor(self) -> str | None:
        """The factor whose effects are integrated out, if any."""
        return None

    @property
    def sampled_groups(self) -> tuple[GroupDesign, ...]:
        """Factors whose effects are model parameters."""
        return tuple(g for g in self.design.groups if g.factor != self.integrated_factor)

    @cached_property
    def centred_factors(self) -> frozenset[str]:
        """Sampled factors given the centred parametrisation; none by default."""
        return frozenset()

    def kept_variables(self) -> list[str]:
        """Posterior variables to keep: beta, family parameters, SDs, correlations, effects."""
        keep = [names.BETA, *self.family.parameters]
        if self.residual is not None:
            keep += list(self.residual.parameters)
        for g in self.design.groups:
            keep.append(names.sd(g.factor))
            if g.correlated and g.q > 1:
                keep.append(names.corr(g.factor))
        keep += [names.effects(g.factor) for g in self.sampled_groups]
        return keep

    @property
    def intercept_centred_factor(self) -> str | None:
        """The centred factor whose level means are centred around the fixed intercept.

        The first centred random-intercept factor (in model order) with at most
        :data:`FEW_LEVELS` levels, when the model has a fixed intercept; at most one factor
        can take the intercept as its mean. Few levels is where the intercept and the
        centred effects lie on a ridge (Penicillin's 6 samples: intercept R-hat 1.020 ->
        1.002, ESS 328 -> 2,291 around the intercept); with many levels the intercept is
        pinned by their mean and centring around it only slows the SD (25 nested schools,
        2 x 1000 draws: school-SD ESS 498 centred at 0 against 194 and a divergence around
        the intercept).
        """
        if self.intercept_index is None:
            return None
        centred = [g.factor for g in self.sampled_groups
                   if g.factor in self.centred_factors and g.terms == (names.INTERCEPT,)
                   and g.n_levels <= FEW_LEVELS]
        return centred[0] if centred else None

    def structure_key(self, inputs: dict[str, np.ndarray]) -> tuple:
        """Everything that shapes the model graph; equal keys can share one compile."""
        groups = tuple((g.factor, g.q, g.correlated, g.n_levels) for g in self.design.groups)
        shapes = tuple((k, v.shape, v.dtype.str) for k, v in sorted(inputs.items()))
        if self.packs_inputs:
            shapes = (shapes, self._layout)
        return (
            self.name, type(self.family).__name__, self.family.link, self.spec.residual.kind,
            self.spec.priors.lkj_eta, self.intercept_index, self.integrated_factor,
            groups, tuple(sorted(self.centred_factors)), shapes,
        )

    def prefers_python_callback(self) -> bool:
        """Whether nutpie should call a PyTensor-compiled log-density from Python."""
        return False

    def exact_conditional(self) -> Any:
        """A block of parameters whose conditional given the rest is Gaussian and known
        exactly, for the independence sampler (an object with ``name``, the value
        variable, and ``values -> (mean, chol of precision)``); None by default."""
        return None

    def cheap_independence(self, warmup_draws: int) -> bool:
        """Whether ``"auto"`` chose the independence sampler for a cheap design (one
        that NUTS fits quickly too, so a failed run is redone: longer on a narrow miss,
        else with NUTS; :func:`hierlmm.fit`); False here."""
        return False

    def redo_engine(self) -> str:
        """The engine on which ``"auto"`` redoes a failed independence run with nutpie
        (see :meth:`cheap_independence`): this one by default."""
        return self.name

    def independence_settings(self, tune: int) -> IndependenceSettings:
        """How the independence sampler treats this engine's log-density. By default a
        cheap one: all of ``tune`` as warm-up (its weighted covariance then replaces the
        Laplace one), one thread (its calls hold the GIL), and a split-t base proposal
        probed 3 and 9 Laplace SDs out (:data:`FAR_PROBES`,
        ``4 d + 1`` evaluations), so that the warm-up reaches a log-SD's long left tail."""
        return IndependenceSettings(warmup=tune)

    def compile_mode(self, sampler: str) -> str:
        """PyTensor mode of the log-density nutpie calls from Python, or the independence
        sampler calls: numba for NUTS (many cheap calls); for the independence sampler
        :data:`~hierlmm._pytensor_setup.PYTHON_MODE` (PyTensor's C linker, the Python Op
        as a thunk: numba would compile a Python Op such as the all-factor likelihood in
        object mode afresh in every process, ~9 s)."""
        return PYTHON_MODE if sampler == "independence" else "NUMBA"

    def choose_sampler(self, warmup_draws: int = 0) -> str:
        """The sampler to run: the one asked for, or for ``"auto"`` nutpie's NUTS.

        ``warmup_draws`` (chains x tune) lets an engine choose by the warm-up's length.

        Raises
        ------
        SpecError
            For ``sampler="independence"`` on an engine with many parameters.
        """
        if self.sampler_request == "independence" and not self.supports_independence:
            raise SpecError(
                f'sampler="independence" needs the collapsed engine (a model with few '
                f'parameters); the {self.name} engine samples every random effect. Use '
                'sampler="auto" or "nutpie"'
            )
        return "nutpie" if self.sampler_request == "auto" else self.sampler_request

    # ---------------------------------------------------------------------- inputs
    def inputs(self) -> dict[str, np.ndarray]:
        """Every array the model reads, by data-container name (packed if
        :attr:`packs_inputs`: one flat array per dtype, see :meth:`named_inputs`)."""
        named = self.named_inputs()
        if not self.packs_inputs:
            return named
        if "_layout" not in self.__dict__:  # fill the cached layout from these arrays
            self.__dict__["_layout"] = pack_layout(named)
        return pack(named, self._layout)

    @cached_property
    def _layout(self):
        return pack_layout(self.named_inputs())

    def named_inputs(self) -> dict[str, np.ndarray]:
        """Every array the model reads, by name (before any packing)."""
        residual = {} if self.residual is None else self.residual.prior_inputs(self.spec.priors)
        return {
            **prior_inputs(self.design, self.spec.priors, self.family),
            **residual,
            **{k: v for g in self.sampled_groups for k, v in self._group_inputs(g).items()},
            **self.likelihood_inputs(),
        }

    @staticmethod
    def _group_inputs(group: GroupDesign) -> dict[str, np.ndarray]:
        return {names.data_codes(group.factor): group.codes, names.data_z(group.factor): group.Z}

    def input_shapes(self) -> dict[str, tuple[int | None, ...]]:
        """Static shapes of data containers that need them (None: a dynamic length)."""
        return {}

    @abstractmethod
    def likelihood_inputs(self) -> dict[str, np.ndarray]:
        """Arrays read by :meth:`add_likelihood` only."""

    # ----------------------------------------------------------------------- model
    def build(self, inputs: dict[str, np.ndarray]) -> pm.Model:
        """The PyMC model, reading every array in ``inputs`` as a data container."""
        configure_pytensor()  # hierlmm's first use of PyTensor in this process (runs once)
        model = pm.Model(coords=model_coords(self.design))
        shapes = self.input_shapes()
        with model:
            data = {k: pm.Data(k, v, shape=shapes.get(k)) for k, v in inputs.items()}
            if self.packs_inputs:
                data = unpack(data, self._layout)
            beta_c, beta = add_fixed_effects(data=data, intercept_index=self.intercept_index)
            chols = {
                g.factor: add_covariance(
                    model=model, group=g, sd_scale=data[names.prior_sd_scale(g.factor)],
                    lkj_eta=self.spec.priors.lkj_eta,
                )
                for g in self.design.groups
            }
            params = self.family.add_parameters(data)
            if self.residual is not None:
                params = {**params, **self.residual.add_parameters(data)}
            offset = None
            around = self.intercept_centred_factor
            for g in self.sampled_groups:
                b = add_effects(model=model, group=g, chol=chols[g.factor],
                                centred=g.factor in self.centred_factors,
                                around=beta_c[self.intercept_index] if g.factor == around
                                else None)
                term = group_contribution(  # (n,)
                    effects=b, codes=data[names.data_codes(g.factor)],
                    Z=data[names.data_z(g.factor)],
                )
                offset = term if offset is None else offset + term
            self.add_likelihood(
                data=data, beta_c=beta_c, beta=beta, chols=chols, params=params, offset=offset
            )
        return model

    @abstractmethod
    def add_likelihood(
        self,
        *,
        data: dict[str, pt.TensorVariable],
        beta_c: pt.TensorVariable,
        beta: pt.TensorVariable,
        chols: dict[str, pt.TensorVariable],
        params: dict[str, pt.TensorVariable],
        offset: pt.TensorVariable | None,
    ) -> None:
        """Add the data term to the model in context.

        Parameters
        ----------
        data : dict of str to TensorVariable
            The data containers, by name.
        beta_c, beta : TensorVariable, shape (p,)
            Coefficients of the centred and of the uncentred fixed design.
        chols : dict of str to TensorVariable, each (q_f, q_f)
            Cholesky factor of each factor's effect covariance.
        params : dict of str to TensorVariable
            The family's parameters.
        offset : TensorVariable, shape (n,), or None
            Summed contributions of the sampled factors' effects.
        """

    # ---------------------------------------------------------------- after sampling
    def finish(
        self, posterior: xr.Dataset, seed: int
    ) -> tuple[xr.Dataset, dict[str, Any]]:
        """Post-sampling step; returns the posterior and extra DataTree groups."""
        return posterior, {}
