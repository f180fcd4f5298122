"""Quadrature engine: a GLMM's random effects integrated out by adaptive Gauss-Hermite.

For a non-Gaussian family with one grouping factor, each level's effects are integrated
out numerically (:mod:`hierlmm.engines.quadrature.kernel`: Newton's method for the mode,
then a Gauss-Hermite product rule centred and scaled there, as lme4's ``glmer(nAGQ=)``
does for one scalar effect). The posterior then lives on a handful of parameters (fixed
effects, the factor's SDs and correlations, a negative binomial shape), which the
independence sampler (:mod:`hierlmm.inference.independence`) samples with one marginal
likelihood a draw instead of NUTS' many gradients of a model with ``levels x q`` more
parameters (from :data:`IMH_MIN_LEVELS` levels on; NUTS on the same likelihood below).
The effects are drawn after sampling, given each posterior draw
(:mod:`hierlmm.engines.quadrature.effects`).

Accuracy (``NODES_PER_DIM``: 15 nodes for q = 1, 7 x 7 for q = 2, 6^3 for q = 3): on the
benchmark's 1,000 subjects x 10 binary visits with correlated intercepts and slopes the
summed log-likelihood is within 0.016 of a 15 x 15 rule (Laplace, one node: 16.5 off);
on 40 levels of 10 rows it is within 7e-4 of a 281 x 281 grid for Bernoulli, binomial,
Poisson and negative binomial responses (tests/model/test_quadrature_engine.py).

Opt-in (``engine="quadrature"``): ``engine="auto"`` keeps the sampled engine for
non-Gaussian families. Families: bernoulli and binomial with the logit link, poisson and
negbinomial with the log link; one grouping factor with at most 3 effects.

Examples
--------
>>> import hierlmm
>>> sim = hierlmm.datasets.simulate_remission(n_subjects=200, n_visits=8, seed=1)
>>> fit = hierlmm.fit(sim.formula, sim.data, family="bernoulli", engine="quadrature",
...                   seed=1, progress=False)  # doctest: +SKIP
>>> fit.engine, fit.sampler  # doctest: +SKIP
('quadrature', 'independence')
"""

from __future__ import annotations

from functools import cached_property

import pymc as pm

from hierlmm._pytensor_setup import PYTHON_MODE
from hierlmm.design.design import GroupDesign
from hierlmm.engines.base import Engine
from hierlmm.engines.collapsed.effects import EFFECTS_GROUP
from hierlmm.engines.quadrature.effects import add_quadrature_effects
from hierlmm.engines.quadrature.likelihood import KINDS, LevelData, level_data
from hierlmm.engines.quadrature.op import quadrature_loglik_op
from hierlmm.errors import SpecError

MAX_Q = 3
IMH_MIN_LEVELS = 100  # "auto" runs the independence sampler from this many levels on
QUADRATURE_LOGLIK = "loglik_quadrature"  # Potential holding the marginal log-likelihood
QUADRATURE_Y = "quadrature_y"  # data container: the response sorted by level


def quadrature_problem(design, spec, family) -> str | None:
    """Why the quadrature engine cannot fit the model, or None when it can."""
    if (family.name, family.link) not in KINDS:
        supported = ", ".join(f"{f} ({link})" for f, link in KINDS)
        return (f"it integrates {supported} models; family {family.name!r} with link "
                f"{family.link!r} is not among them")
    if len(design.groups) != 1:
        return f"it needs exactly one grouping factor (the model has {len(design.groups)})"
    if design.groups[0].q > MAX_Q:
        return (f"it integrates at most {MAX_Q} effects per level (factor "
                f"{design.groups[0].factor!r} has {design.groups[0].q})")
    if spec.residual.kind != "iid":
        return f'it needs residual kind "iid" (got "{spec.residual.kind}")'
    return None


class QuadratureEngine(Engine):
    """One factor's effects of a GLMM integrated out by adaptive Gauss-Hermite quadrature.

    Raises
    ------
    SpecError
        When the model is outside what the engine integrates (:func:`quadrature_problem`).
    """

    name = "quadrature"
    supports_independence = True

    def __init__(self, design, spec, family, sampler: str = "auto") -> None:
        super().__init__(design, spec, family, sampler)
        problem = quadrature_problem(design, spec, family)
        if problem:
            raise SpecError(f'engine="quadrature" cannot fit this model: {problem}; use '
                            'engine="sampled" (or "auto")')

    @property
    def group(self) -> GroupDesign:
        """The integrated-out factor."""
        return self.design.groups[0]

    @property
    def integrated_factor(self) -> str:
        return self.group.factor

    @cached_property
    def data(self) -> LevelData:
        """The rows sorted by level, with the quadrature rule."""
        d, g = self.design, self.group
        return level_data(kind=KINDS[(self.family.name, self.family.link)], codes=g.codes,
                          n_levels=g.n_levels, y=d.y, X=d.X, Z=g.Z, trials=d.trials,
                          offset=d.offset)

    @property
    def shape_name(self) -> str | None:
        """The negative binomial shape's variable (None for other families)."""
        return self.family.parameters[0] if self.family.parameters else None

    def likelihood_inputs(self) -> dict:
        """The response sorted by level; the rest of the data live on the Op (their
        fingerprint is in the structure key), so a new response reuses the compile."""
        return {QUADRATURE_Y: self.data.y}

    def structure_key(self, inputs) -> tuple:
        return (*super().structure_key(inputs), "quadrature", self.data.key)

    def choose_sampler(self, warmup_draws: int = 0) -> str:
        """``"auto"``: the independence sampler (one value a draw) from
        :data:`IMH_MIN_LEVELS` levels on, nutpie's NUTS on the same integrated likelihood
        below. Few levels leave the posterior of the SDs and correlations far from normal,
        where one t proposal fits poorly: 20 groups x 6 binary visits, 2 x 1000 draws,
        8 prior draws: IMH min bulk ESS 5-293, max R-hat up to 1.37 (NUTS: ESS 128-155
        of 2 x 150 draws, R-hat <= 1.04); 1,000 subjects x 10 visits: IMH ESS ~3,000 of
        4,000, R-hat 1.000."""
        if self.sampler_request == "auto":
            return "independence" if self.group.n_levels >= IMH_MIN_LEVELS else "nutpie"
        return super().choose_sampler(warmup_draws)

    def cheap_independence(self, warmup_draws: int) -> bool:
        """Always: a run of the independence sampler chosen by ``"auto"`` that fails or
        whose diagnostics fail is redone: four times longer on a narrow miss, else with
        nutpie's NUTS on the sampled engine (:meth:`redo_engine`, :func:`hierlmm.fit`)."""
        return True

    def redo_engine(self) -> str:
        """``"sampled"``: NUTS on the quadrature likelihood (a Python Op, one call per
        gradient) is slow at the sizes where ``"auto"`` runs the independence sampler.
        Logistic, 200 subjects x 8 visits, 4 x 1,000 draws: 143 s against 20 s for the
        sampled engine (10 s of it compiling). On hard prior draws (100 x 6, logit
        intercepts down to -7; ``test_quadrature_agreement``'s heavy SBC) the
        independence runs fail their diagnostics, the sampled engine takes 3-17 s, and
        NUTS on the quadrature likelihood did not finish one fit in 15 min. A narrow
        miss does not come here: it is first run four times longer on this engine
        (:data:`hierlmm.inference.fit.LONGER_THIN`), which passed where the sampled
        engine did not. Before that rule (``simulate_remission``, 100 x 6, seed 2;
        independence R-hat 1.014, ESS 590, 4 s) the sampled engine gave R-hat 1.020,
        ESS 225 in 27 s, NUTS on the quadrature likelihood R-hat 1.003, ESS 1,030 in
        76 s."""
        return "sampled"

    def prefers_python_callback(self) -> bool:
        return True  # the likelihood is a Python Op around numba kernels

    def compile_mode(self, sampler: str) -> str:
        return PYTHON_MODE  # numba would wrap the Python Op in object mode

    def add_likelihood(self, *, data, beta_c, beta, chols, params, offset) -> None:
        shape = params[self.shape_name] if self.shape_name else 1.0
        loglik = quadrature_loglik_op(self.data, beta=beta, chol=chols[self.group.factor],
                                      shape=shape, y=data[QUADRATURE_Y])
        pm.Potential(QUADRATURE_LOGLIK, loglik)

    def finish(self, posterior, seed):
        """Draw the effects given each posterior draw (thinned when over budget)."""
        posterior, thinned = add_quadrature_effects(
            posterior, data=self.data, group=self.group, shape_name=self.shape_name,
            seed=seed)
        return posterior, ({} if thinned is None else {EFFECTS_GROUP: thinned})
