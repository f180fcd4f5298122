"""Errors and warnings raised by hierlmm.

Every error a user can trigger with bad input derives from :class:`HierlmmError`,
so ``except hierlmm.HierlmmError`` catches all of them, and each message names the
offending column, key or option and says what to do.
"""

from __future__ import annotations


class HierlmmError(Exception):
    """Base class of every error raised by hierlmm."""


class SpecError(HierlmmError, ValueError):
    """A model specification (formula, spec object, model file, option) is invalid."""


class DataError(HierlmmError, ValueError):
    """The data do not fit the specification (missing column, bad values, ...)."""


class FitError(HierlmmError, RuntimeError):
    """Sampling failed or a fitted object cannot be used as asked."""


class ConvergenceWarning(UserWarning):
    """MCMC diagnostics (R-hat, bulk ESS, divergences) fail common thresholds."""
