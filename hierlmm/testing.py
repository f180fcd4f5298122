"""Simulation-based calibration (SBC) of hierlmm fits (Talts et al. 2018).

If data are simulated from the prior, ``theta ~ p(theta)``, ``y ~ p(y | theta)``, and the
model is fitted to ``y`` by a correct sampler, the rank of each true scalar quantity
among ``L`` posterior draws is uniform on ``0 .. L`` (Talts, Betancourt, Simpson, Vehtari
and Gelman 2018, "Validating Bayesian inference algorithms with simulation-based
calibration"). :func:`sbc` runs that loop for a formula on fixed covariates and tests
every rank distribution for uniformity with a chi-square and a Kolmogorov-Smirnov test
(:func:`uniformity_pvalue`), Bonferroni-corrected over the tests and the quantities.

**The prior.** hierlmm's default priors are scaled by the data (``mean(y)``, ``sd(y)``;
docs/priors.md), so they are not a fixed prior that a simulator could draw from. Inside
:func:`reference_units` every fit uses the same priors at a fixed *reference* response
location 0 and scale 1 (the covariate scales ``s_x``, ``s_z`` still come from the fixed
covariates): intercept of the centred design ``Normal(0, intercept_scale)``, slope
``Normal(0, fixed_scale / s_x)``, random-effect SD ``HalfNormal(sd_scale / s_z)``,
correlations ``LKJCorr(lkj_eta)``, ``sigma ~ Exponential(mean sigma_scale)``.
:func:`simulate_lmm_prior` draws from exactly these distributions with numpy, written
from docs/priors.md and not from the model code, so a model whose prior or likelihood
departs from the documentation fails.

**Reuse for other families and engines.** :func:`sbc` takes any ``simulate(design, rng)
-> (y, truth)`` and ``quantities(fit) -> {name: (chain, draw) array}`` with the same
names as ``truth``, and passes ``fit_kwargs`` (``family=``, ``engine=``, ``priors=``,
``residual=`` ...) to :func:`hierlmm.fit`. A new family needs a simulator from its prior
and, where its parameters are not the Gaussian ones, a ``quantities`` function; a new
engine only needs ``fit_kwargs={"engine": ...}``.

Examples
--------
>>> import pandas as pd, hierlmm.testing as ht
>>> covariates = pd.DataFrame({"t": [0.0, 1, 2, 3] * 3, "g": list("aaaabbbbcccc")})
>>> result = ht.sbc("y ~ t + (t | g)", covariates, replicates=2, draws=20, tune=20,
...                 thin=4, seed=1)  # doctest: +SKIP
>>> result.passed  # doctest: +SKIP
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from hierlmm.design import build_design
from hierlmm.design.design import Design
from hierlmm.families import gaussian, get_family
from hierlmm.inference import fit as fit_module
from hierlmm.inference.draws import scalar_draws
from hierlmm.model import names
from hierlmm.model.priors import column_sd, intercept_index
from hierlmm.spec.formula import parse_formula
from hierlmm.spec.schema import INTERCEPT, PriorSpec

Truth = dict[str, float]
Simulator = Callable[[Design, np.random.Generator], tuple[np.ndarray, Truth]]
Quantities = Callable[..., dict[str, np.ndarray]]

__all__ = ["SBCResult", "glmm_quantities", "lkj_corr", "lmm_quantities", "reference_units",
           "sbc", "simulate_bernoulli_prior", "simulate_lmm_prior", "uniformity_pvalue"]


# ------------------------------------------------------------------------ fixed prior
@contextlib.contextmanager
def reference_units() -> Iterator[None]:
    """Fit with the default priors at response location 0 and scale 1 (not the data's).

    Within the block :func:`hierlmm.fit` fits the Gaussian family in the response's own
    units (no centring or scaling of ``y``) and computes the prior hyperparameters with
    ``mean(y) = 0`` and ``sd(y) = 1``, so the prior no longer depends on the response.
    Covariates are still standardized (their scales are fixed in an SBC). Not
    thread-safe: it patches module attributes for the duration of the block.
    """
    real_standardize = fit_module.standardize

    def standardize(design, family):
        scaled, scaling = real_standardize(design, family)
        return replace(scaled, y=design.y), replace(scaling, y_loc=0.0, y_scale=1.0)

    with _patched(fit_module, "standardize", standardize), \
            _patched(gaussian, "response_sd", lambda y: 1.0), \
            _patched(gaussian.Gaussian, "eta_location_scale", lambda self, y: (0.0, 1.0)):
        yield


@contextlib.contextmanager
def _patched(owner, name: str, value) -> Iterator[None]:
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


def lkj_corr(q: int, eta: float, rng: np.random.Generator) -> np.ndarray:
    """One ``LKJCorr(eta)`` correlation matrix, shape (q, q), by the C-vine method.

    Lewandowski, Kurowicka and Joe (2009), section 2.4: partial correlations
    ``2 Beta(b, b) - 1`` with ``b = eta + (q - 1 - k) / 2`` at vine level ``k``, turned
    into correlations by the partial-correlation recursion. For ``q = 2`` this is
    ``r = 2 Beta(eta, eta) - 1``.
    """
    partial = np.zeros((q, q))
    corr = np.eye(q)
    b = eta + (q - 1) / 2.0
    for k in range(q - 1):
        b -= 0.5
        for i in range(k + 1, q):
            partial[k, i] = 2.0 * rng.beta(b, b) - 1.0
            r = partial[k, i]
            for m in range(k - 1, -1, -1):
                r = r * np.sqrt((1 - partial[m, i] ** 2) * (1 - partial[m, k] ** 2)) \
                    + partial[m, i] * partial[m, k]
            corr[k, i] = corr[i, k] = r
    return corr


def _icc(truth: dict, design: Design) -> dict:
    """``icc(f) = sd(Intercept|f)^2 / (sum of intercept variances + sigma^2)`` per factor
    with a random intercept (the ICC at slope covariates = 0); works on floats or arrays."""
    intercept_var = {g.factor: truth[f"sd({INTERCEPT}|{g.factor})"] ** 2
                     for g in design.groups if INTERCEPT in g.terms}
    total = sum(intercept_var.values()) + truth[names.SIGMA] ** 2
    return {f"icc({f})": v / total for f, v in intercept_var.items()}


def simulate_lmm_prior(design: Design, rng: np.random.Generator,
                       priors: PriorSpec | None = None) -> tuple[np.ndarray, Truth]:
    """Parameters from the default Gaussian-LMM prior at reference units, and a response.

    Parameters
    ----------
    design : Design
        Fixed covariates: ``X`` (n, p) and each factor's codes and ``Z`` (n, q).
    rng : numpy.random.Generator
    priors : PriorSpec, optional
        Multipliers of docs/priors.md (defaults: ``PriorSpec()``).

    Returns
    -------
    y : ndarray, shape (n,)
    truth : dict of str to float
        Fixed effects by column name (the reported, uncentred intercept), ``sd(t|f)``,
        ``corr(a,b|f)`` for correlated factors, ``sigma`` and ``icc(f)``.
    """
    priors = priors or PriorSpec()
    eta, truth = _prior_linear_predictor(design, rng, priors)
    sigma = rng.exponential(priors.sigma_scale)
    truth[names.SIGMA] = float(sigma)
    truth.update(_icc(truth, design))
    return eta + sigma * rng.standard_normal(design.n), truth


def simulate_bernoulli_prior(design: Design, rng: np.random.Generator,
                             priors: PriorSpec | None = None) -> tuple[np.ndarray, Truth]:
    """Parameters from the default logistic-GLMM prior, and a 0/1 response.

    The bernoulli family's priors do not depend on the response (location 0, scale 1 on
    the logit scale, docs/priors.md), so they are the fixed prior an SBC needs as they
    are. Returns ``y`` (n,) and the truth of :func:`simulate_lmm_prior` without
    ``sigma`` and the ICC; use :func:`glmm_quantities` with it.
    """
    eta, truth = _prior_linear_predictor(design, rng, priors or PriorSpec())
    y = (rng.uniform(size=design.n) < 1.0 / (1.0 + np.exp(-eta))).astype(np.float64)
    return y, truth


def glmm_quantities(fit) -> dict[str, np.ndarray]:
    """Posterior draws (chain, draw) of every scalar parameter (fixed effects, SDs,
    correlations, family parameters)."""
    family = get_family(fit.spec.family, fit.spec.link)
    return {s.parameter: s.values
            for s in scalar_draws(fit.posterior, fit.design, family.parameters)}


def _prior_linear_predictor(design: Design, rng: np.random.Generator,
                            priors: PriorSpec) -> tuple[np.ndarray, Truth]:
    """``eta`` (n,) from fixed and random effects drawn from the documented prior, and
    their truth (fixed effects, SDs, correlations)."""
    X, index = design.X, intercept_index(design)
    s_x = column_sd(X)
    beta = rng.normal(0.0, priors.fixed_scale / s_x)
    if index is not None:  # the prior is on the intercept of the centred design
        centred = rng.normal(0.0, priors.intercept_scale)
        x_means = X.mean(axis=0)
        x_means[index] = 0.0
        beta[index] = centred - beta @ x_means  # x_means[index] is 0
    eta = X @ beta
    truth: Truth = dict(zip(design.fixed_names, beta.tolist(), strict=True))
    for g in design.groups:
        s_z = np.where(np.asarray(g.terms) == INTERCEPT, 1.0, column_sd(g.Z))
        sd = np.abs(rng.normal(0.0, priors.sd_scale / s_z))
        corr = np.eye(g.q)
        if g.correlated and g.q > 1:
            corr = lkj_corr(g.q, priors.lkj_eta, rng)
            for (i, a), (j, b) in combinations(enumerate(g.terms), 2):
                truth[f"corr({a},{b}|{g.factor})"] = float(corr[i, j])
        truth.update({f"sd({t}|{g.factor})": float(s) for t, s in zip(g.terms, sd, strict=True)})
        chol = np.linalg.cholesky(corr) * sd[:, None]  # L with L L' = diag(sd) R diag(sd)
        effects = rng.standard_normal((g.n_levels, g.q)) @ chol.T  # (levels, q)
        eta = eta + (g.Z * effects[g.codes]).sum(axis=1)
    return eta, truth


def lmm_quantities(fit) -> dict[str, np.ndarray]:
    """Posterior draws (chain, draw) of the quantities :func:`simulate_lmm_prior` returns."""
    draws = {s.parameter: s.values for s in scalar_draws(fit.posterior, fit.design)}
    draws.update(_icc(draws, fit.design))
    return draws


# ------------------------------------------------------------------------------ ranks
@dataclass(frozen=True)
class SBCResult:
    """Ranks of the true quantities and their uniformity tests.

    Attributes
    ----------
    ranks : pandas.DataFrame
        Shape (replicates, quantities): rank of each true value among ``n_ranks``
        thinned posterior draws, an integer in ``0 .. n_ranks``.
    n_ranks : int
        Thinned draws per replicate ``L`` (chains x draws // thin).
    bins : int
        Rank bins of the chi-square test.
    pvalues : pandas.Series
        p-value of uniform ranks per quantity (:func:`uniformity_pvalue`).
    alpha : float
        Family-wise level; a quantity fails when ``p < alpha / len(pvalues)``.
    diagnostics : pandas.DataFrame
        Per replicate: the ``engine`` and ``sampler`` that ran (``"auto"`` may redo a
        failed independence run with nutpie), ``divergences``, ``max_rhat``,
        ``min_ess_bulk``.
    """

    ranks: pd.DataFrame
    n_ranks: int
    bins: int
    pvalues: pd.Series
    alpha: float
    diagnostics: pd.DataFrame

    @property
    def threshold(self) -> float:
        """Per-quantity level after the Bonferroni correction, ``alpha / quantities``."""
        return self.alpha / len(self.pvalues)

    @property
    def passed(self) -> bool:
        """Whether every quantity's ranks are consistent with uniform at ``threshold``."""
        return bool((self.pvalues >= self.threshold).all())

    def histogram(self) -> pd.DataFrame:
        """Counts of ranks per bin, shape (bins, quantities)."""
        return self.ranks.apply(lambda r: pd.Series(np.bincount(
            _bin(r.to_numpy(), self.n_ranks, self.bins), minlength=self.bins)))


def _bin(ranks: np.ndarray, n_ranks: int, bins: int) -> np.ndarray:
    """Bin of each rank in ``0 .. n_ranks``: ``floor(rank * bins / (n_ranks + 1))``."""
    return (np.asarray(ranks) * bins) // (n_ranks + 1)


def uniformity_pvalue(ranks: np.ndarray, n_ranks: int, bins: int) -> float:
    """p-value of ranks uniform on ``0 .. n_ranks``: the smaller of a chi-square test on
    ``bins`` bins (exact bin probabilities; sensitive to U and hump shapes, i.e. too
    narrow or too wide posteriors) and a Kolmogorov-Smirnov test of ``(rank + 0.5) /
    (n_ranks + 1)`` against U(0, 1) (sensitive to shifts, i.e. biased posteriors), times 2
    (Bonferroni over the two tests)."""
    observed = np.bincount(_bin(ranks, n_ranks, bins), minlength=bins)
    probs = np.bincount(_bin(np.arange(n_ranks + 1), n_ranks, bins), minlength=bins)
    expected = probs / probs.sum() * len(ranks)
    chi2 = stats.chisquare(observed, expected).pvalue
    ks = stats.kstest((np.asarray(ranks) + 0.5) / (n_ranks + 1), "uniform").pvalue
    return float(min(1.0, 2.0 * min(chi2, ks)))


def rank_of(truth: float, draws: np.ndarray, thin: int) -> int:
    """Number of thinned draws below ``truth``; ``draws`` (chain, draw), every ``thin``-th."""
    return int((draws[:, ::thin] < truth).sum())


def sbc(formula: str, covariates: pd.DataFrame, *, seed: int, replicates: int = 100,
        draws: int = 250, tune: int = 250, chains: int = 2, thin: int = 5, bins: int = 10,
        alpha: float = 0.01, priors: PriorSpec | None = None, fit_kwargs: dict | None = None,
        simulate: Simulator | None = None, quantities: Quantities = lmm_quantities,
        ) -> SBCResult:
    """Simulation-based calibration of ``formula`` on fixed ``covariates``.

    Each replicate draws parameters and a response with ``simulate``, fits the model
    (inside :func:`reference_units`) with ``draws`` per chain, and ranks every true
    quantity among the posterior draws kept by thinning each chain to every ``thin``-th
    draw (near-independent draws, as Talts et al. recommend).

    Parameters
    ----------
    formula : str
        lme4 formula; its response column is simulated.
    covariates : pandas.DataFrame
        Every other column the formula reads (fixed across replicates), n rows.
    seed : int
        Seeds the simulations and the fits.
    replicates, draws, tune, chains, thin : int
    bins : int
        Rank bins of the chi-square test (keep ``replicates / bins >= 5``).
    alpha : float
        Family-wise level, Bonferroni-split over the quantities.
    priors : PriorSpec, optional
        The simulator's prior multipliers; the model gets the same unless ``fit_kwargs``
        has ``priors`` (how a deliberately mismatched prior is tested).
    fit_kwargs : dict, optional
        More arguments of :func:`hierlmm.fit` (``engine``, ``sampler``, ``family``...).
    simulate : callable, optional
        ``simulate(design, rng) -> (y, truth)``; default :func:`simulate_lmm_prior` with
        ``priors``.
    quantities : callable
        ``quantities(fit) -> {name: (chain, draw) array}`` with ``truth``'s names.

    Returns
    -------
    SBCResult
    """
    import hierlmm  # the facade: fit() with its public argument checks

    spec = parse_formula(formula)
    template = covariates.assign(**{spec.response: np.arange(len(covariates), dtype=float)})
    design = build_design(spec, template)
    priors = priors or PriorSpec()
    simulate = simulate or (lambda d, rng: simulate_lmm_prior(d, rng, priors))
    kwargs = {"priors": priors, **(fit_kwargs or {})}
    rng = np.random.default_rng(seed)
    ranks, diagnostics = [], []
    for r in range(replicates):
        y, truth = simulate(design, rng)
        data = covariates.assign(**{spec.response: y})
        with reference_units():
            fit = hierlmm.fit(spec, data, seed=seed * 100_003 + r, draws=draws, tune=tune,
                              chains=chains, progress=False, warn_convergence=False,
                              **kwargs)
        posterior = quantities(fit)
        ranks.append({k: rank_of(v, posterior[k], thin) for k, v in truth.items()})
        diag = fit.diagnostics()
        diagnostics.append({"engine": fit.engine, "sampler": fit.sampler,
                            **{k: diag[k] for k in ("divergences", "max_rhat", "min_ess_bulk")}})
    table = pd.DataFrame(ranks)
    n_ranks = chains * len(range(0, draws, thin))
    pvalues = table.apply(lambda col: uniformity_pvalue(col.to_numpy(), n_ranks, bins))
    return SBCResult(table, n_ranks, bins, pvalues, alpha, pd.DataFrame(diagnostics))
