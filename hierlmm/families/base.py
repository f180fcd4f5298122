"""The :class:`Family` seam: everything hierlmm needs to know about a response family.

A family owns its link, its response checks, the data-scaled priors of its own
parameters (``sigma``, ``nu``, ...), its PyMC likelihood, and the numpy functions that
reports use after sampling: the pointwise log-likelihood, the mean, posterior predictive
draws and the latent-scale residual variance behind ICCs. Builders, engines, loglik,
predict, the predictive checks and the variance reports ask the family and never name
one, so a new family is one new module here plus one line in
:data:`hierlmm.families.FAMILIES` (the idea of bambi's ``Family``; the code is ours).

Array conventions of the numpy methods: ``eta`` is the linear predictor with any
leading sample dimensions, shape ``(..., n)``; ``params`` maps each name in
:attr:`Family.parameters` to draws of shape ``(...)`` (the same leading dimensions, no
observation axis); results have the shape of ``eta`` unless stated otherwise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import pytensor.tensor as pt

from hierlmm.spec.schema import PriorSpec

ParamDraws = dict[str, np.ndarray]


def expand_params(params: ParamDraws) -> ParamDraws:
    """Add a trailing observation axis to every parameter draw: (...) -> (..., 1)."""
    return {name: np.asarray(value, dtype=np.float64)[..., None] for name, value in params.items()}


def trials_kwargs(trials) -> dict:
    """``{"trials": trials}`` for a binomial design, ``{}`` otherwise (see :class:`Family`)."""
    return {} if trials is None else {"trials": trials}


class Family(ABC):
    """A response family: link, priors of its parameters, likelihood and numpy helpers.

    Class attributes
    ----------------
    name : str
        The ``ModelSpec.family`` value, e.g. ``"gaussian"``.
    link : str
        Name of the link function (``"identity"``, ``"logit"``, ``"log"``).
    parameters : tuple of str
        Posterior variables of the family's own parameters (names from
        :mod:`hierlmm.model.names`), in reporting order.
    has_residual_sd : bool
        Whether the family has a residual SD ``sigma`` on the response scale.
    collapsible : bool
        Whether random effects can be integrated out analytically (a Gaussian
        likelihood with an identity link), which the collapsed engine needs.
    residual_labels : tuple of str
        Row labels of the residual variance and SD in variance tables.
    scales_response : bool
        Whether the response is on a continuous scale that may be standardized
        internally (:mod:`hierlmm.model.scaling`); False for counts and binary data.
    scale_parameters : tuple of str
        Parameters measured in the response's units (e.g. ``sigma``), rescaled with it.
    residual_needs_mean : bool
        Whether :meth:`latent_residual_variance` needs the mean response (``mean=``), as
        the observation-level approximation of count families does.

    Per-row data besides ``y``: binomial families take ``trials=`` (n,) in
    :meth:`add_likelihood`, :meth:`log_likelihood` and :meth:`predictive_draws`; callers
    pass it only when the design has trials.
    """

    name: ClassVar[str]
    link: ClassVar[str] = "identity"
    parameters: ClassVar[tuple[str, ...]] = ()
    has_residual_sd: ClassVar[bool] = False
    collapsible: ClassVar[bool] = False
    residual_labels: ClassVar[tuple[str, str]] = ("var(residual)", "sd(residual)")
    scales_response: ClassVar[bool] = False
    scale_parameters: ClassVar[tuple[str, ...]] = ()
    residual_needs_mean: ClassVar[bool] = False

    def __init__(self, link: str | None = None) -> None:
        if link is not None:
            self.link = link  # type: ignore[misc]  # an instance's link (e.g. probit)

    # ----------------------------------------------------------------- data and priors
    def check_response(self, y: np.ndarray, name: str) -> None:
        """Raise :class:`~hierlmm.errors.DataError` if ``y`` (n,) is invalid for the family.

        The design stage has already checked that ``y`` is finite and not constant; the
        default accepts any such real response.
        """
        return None

    @abstractmethod
    def eta_location_scale(self, y: np.ndarray) -> tuple[float, float]:
        """Location and scale of the linear predictor implied by ``y`` (n,).

        They set the data-scaled priors of the intercept, the fixed slopes and the
        random-effect SDs (see :mod:`hierlmm.model.priors`).
        """

    def prior_inputs(self, y: np.ndarray, priors: PriorSpec) -> dict[str, np.ndarray]:
        """Numeric hyperparameters of the family's own priors, scaled by ``y`` (n,).

        They enter the model as data containers (``pm.Data``) named by the keys, so a
        compiled model can be refitted to a new response without a new compile.
        """
        return {}

    def add_parameters(self, inputs: dict[str, pt.TensorVariable]) -> dict[str, pt.TensorVariable]:
        """Add the family's parameters to the model in context; return them by name.

        Parameters
        ----------
        inputs : dict of str to TensorVariable
            The data containers made from :meth:`prior_inputs`.
        """
        return {}

    def param_draws(self, posterior) -> ParamDraws:
        """Draws of the family's parameters from a posterior dataset, each (chain, draw)."""
        return {
            name: np.asarray(posterior[name].transpose("chain", "draw").values, dtype=np.float64)
            for name in self.parameters
        }

    # ----------------------------------------------------------------------- likelihood
    @abstractmethod
    def add_likelihood(
        self,
        *,
        name: str,
        eta: pt.TensorVariable,
        params: dict[str, pt.TensorVariable],
        observed: pt.TensorVariable,
    ) -> None:
        """Add the observed variable ``name`` with linear predictor ``eta`` (n,)."""

    @abstractmethod
    def log_likelihood(self, y: np.ndarray, eta: np.ndarray, params: ParamDraws) -> np.ndarray:
        """Pointwise log-density of ``y`` (n,) given ``eta`` (..., n); returns (..., n).

        ``eta`` may be overwritten and returned (callers pass a temporary), which keeps
        memory at one (draws, n) array.
        """

    @abstractmethod
    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        """Mean of the response given the linear predictor, same shape as ``eta``."""

    @abstractmethod
    def predictive_draws(
        self, eta: np.ndarray, params: ParamDraws, rng: np.random.Generator
    ) -> np.ndarray:
        """One replicated response per entry of ``eta`` (..., n)."""

    @abstractmethod
    def latent_residual_variance(self, params: ParamDraws) -> np.ndarray:
        """Residual variance on the linear-predictor scale, for ICCs; shape (...).

        Gaussian: ``sigma^2``; logit models: ``pi^2 / 3`` (Nakagawa & Schielzeth 2010).
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self.link!r})"
