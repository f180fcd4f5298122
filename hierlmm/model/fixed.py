"""Fixed effects on the centred design, with the reported uncentred coefficients."""

from __future__ import annotations

import pymc as pm
import pytensor.tensor as pt

from hierlmm.model import names


def add_fixed_effects(
    *, data: dict[str, pt.TensorVariable], intercept_index: int | None
) -> tuple[pt.TensorVariable, pt.TensorVariable]:
    """Add ``beta_centered`` and the deterministic ``beta`` to the model in context.

    The model samples the coefficients of the centred design ``Xc = X - x_means``
    (intercept column untouched); the reported ``beta`` has its intercept shifted by
    ``- sum_k beta_k * x_means_k`` so that ``X beta = Xc beta_c``. Prior means, SDs and
    the centring shift are data containers (``names.PRIOR_BETA_MU``,
    ``names.PRIOR_BETA_SD``, ``names.X_MEANS``), not graph constants.

    Returns
    -------
    beta_c, beta : TensorVariable, shape (p,)
    """
    beta_c = pm.Normal(
        names.BETA_CENTERED,
        mu=data[names.PRIOR_BETA_MU],
        sigma=data[names.PRIOR_BETA_SD],
        dims=names.FIXED_DIM,
    )
    beta = beta_c
    if intercept_index is not None:
        shift = (beta_c * data[names.X_MEANS]).sum()  # not a dot: see likelihood.matvec
        beta = pt.set_subtensor(beta_c[intercept_index], beta_c[intercept_index] - shift)
    return beta_c, pm.Deterministic(names.BETA, beta, dims=names.FIXED_DIM)
