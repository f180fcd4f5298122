"""Every PyMC variable and dimension name used by hierlmm.

Model builders and reports both take names from here, so a typo fails at import.
Factor names may contain ``":"`` (``"school:class"``); they are used verbatim.
"""

from __future__ import annotations

from hierlmm.spec.schema import INTERCEPT  # noqa: F401  (one definition, re-exported)

# fixed effects and residual
BETA = "beta"  # (fixed_term,)
BETA_CENTERED = "beta_centered"  # (fixed_term,), coefficients of the centred design
SIGMA = "sigma"  # scalar residual SD
NU = "nu"  # degrees of freedom of the Student-t family
FIXED_DIM = "fixed_term"
OBS_DIM = "obs"
RESPONSE = "y"  # observed variable / log_likelihood variable


def sd(factor: str) -> str:
    """Random-effect SDs of ``factor``, dims ``(term_dim(factor),)``."""
    return f"sd_{factor}"


def corr(factor: str) -> str:
    """Correlation matrix of ``factor``'s effects, dims ``(term, term_bis)``."""
    return f"corr_{factor}"


def chol(factor: str) -> str:
    """Cholesky factor of ``factor``'s correlation matrix (LKJCorr variable)."""
    return f"chol_{factor}"


def offsets(factor: str) -> str:
    """Standard-normal offsets of the non-centred parameterisation, dims (level, term)."""
    return f"z_{factor}"


def level_means(factor: str) -> str:
    """Level means ``intercept + b`` of a factor centred around the intercept, dims
    (level, term)."""
    return f"a_{factor}"


def effects(factor: str) -> str:
    """Group-level effects b of ``factor``, dims ``(level_dim, term_dim)``."""
    return f"b_{factor}"


def level_dim(factor: str) -> str:
    """Dimension of ``factor``'s levels."""
    return f"{factor}_level"


def term_dim(factor: str) -> str:
    """Dimension of ``factor``'s effect names."""
    return f"{factor}_term"


def term_dim_bis(factor: str) -> str:
    """Second term dimension, for correlation matrices."""
    return f"{factor}_term_bis"


# data containers (pm.Data): shared inputs, so compiled graphs do not embed the data
DATA_X = "X"  # (n, p) fixed design
DATA_Y = "y_observed"  # (n,)
DATA_OFFSET = "offset"  # (n,) GLMM offset added to the linear predictor
DATA_TRIALS = "trials"  # (n,) binomial trials


def data_codes(factor: str) -> str:
    """Level codes of ``factor``, shape (n,)."""
    return f"codes_{factor}"


def data_z(factor: str) -> str:
    """Random-effect columns of ``factor``, shape (n, q)."""
    return f"Z_{factor}"


COLLAPSED_LOGLIK = "loglik_collapsed"  # Potential holding the marginal log-likelihood

# prior hyperparameters, also data containers (so a compiled model serves a new response)
PRIOR_BETA_MU = "prior_beta_mu"  # (p,) prior means of the centred fixed effects
PRIOR_BETA_SD = "prior_beta_sd"  # (p,) prior SDs of the centred fixed effects
X_MEANS = "x_means"  # (p,) column means that centre X (0 for the intercept)


def prior(parameter: str, what: str) -> str:
    """Hyperparameter ``what`` of the prior of ``parameter``, e.g. ``prior_sigma_rate``."""
    return f"prior_{parameter}_{what}"


def prior_sd_scale(factor: str) -> str:
    """HalfNormal scales of ``factor``'s effect SDs, shape (q,)."""
    return prior(sd(factor), "scale")

# autocorrelated residuals (hierlmm.residuals)
PHI = "phi"  # scalar AR(1) / CAR(1) correlation
PHI_UNIT = "phi_unit"  # AR(1): (phi + 1) / 2 in (0, 1), the Beta-distributed variable
DATA_PREVIOUS = "residual_previous"  # (n,) int row preceding each row in its series
DATA_HAS_PREVIOUS = "residual_has_previous"  # (n,) 1.0 unless the row starts a series
DATA_LAG = "residual_lag"  # (n,) exponent of phi to the previous row (1 at series starts)
