"""Internal standardization: exact round trip of the linear predictor and the draws."""

from __future__ import annotations

import numpy as np
import xarray as xr

from hierlmm.design import build_design
from hierlmm.families import get_family
from hierlmm.model import names
from hierlmm.model.linear_predictor import linear_predictor
from hierlmm.model.scaling import standardize, unscale_draws
from hierlmm.spec import parse_formula


def _design(sleepstudy, scale: float):
    data = sleepstudy.assign(Reaction=sleepstudy["Reaction"] * scale)
    spec = parse_formula("Reaction ~ Days + (Days | Subject)")
    return build_design(spec, data)


def test_standardized_design_has_unit_scale(sleepstudy) -> None:
    design = _design(sleepstudy, 1e6)
    scaled, scaling = standardize(design, get_family("gaussian"))
    assert abs(scaled.y.mean()) < 1e-12 and abs(scaled.y.std(ddof=1) - 1.0) < 1e-12
    assert np.allclose(scaled.X[:, 0], 1.0) and abs(scaled.X[:, 1].std(ddof=1) - 1.0) < 1e-12
    Z = scaled.group("Subject").Z
    assert np.allclose(Z[:, 0], 1.0) and abs(Z[:, 1].std(ddof=1) - 1.0) < 1e-12
    assert scaling.y_scale == design.y.std(ddof=1) and scaling.y_loc == design.y.mean()
    assert scaled.group("Subject").codes is design.group("Subject").codes


def test_unscaled_draws_reproduce_the_linear_predictor(sleepstudy) -> None:
    design = _design(sleepstudy, 1e-6)
    scaled, scaling = standardize(design, get_family("gaussian"))
    rng = np.random.default_rng(0)
    g = scaled.group("Subject")
    beta = rng.normal(size=(2, 3, scaled.p))
    b = rng.normal(size=(2, 3, g.n_levels, g.q))
    sd = rng.gamma(2.0, size=(2, 3, g.q))
    sigma = rng.gamma(2.0, size=(2, 3))
    dims = ("chain", "draw")
    draws = xr.Dataset({
        names.BETA: (dims + (names.FIXED_DIM,), beta),
        names.effects("Subject"): (dims + ("Subject_level", "Subject_term"), b),
        names.sd("Subject"): (dims + ("Subject_term",), sd),
        names.SIGMA: (dims, sigma),
    })
    back = unscale_draws(draws, scaling)
    internal = linear_predictor(beta, scaled.X, [(b, g.codes, g.Z)])
    user = linear_predictor(back[names.BETA].values, design.X,
                            [(back[names.effects("Subject")].values, g.codes,
                              design.group("Subject").Z)])
    np.testing.assert_allclose(user, scaling.y_loc + scaling.y_scale * internal, rtol=1e-12)
    np.testing.assert_allclose(back[names.SIGMA].values, scaling.y_scale * sigma, rtol=1e-15)
    expected_sd = scaling.y_scale * sd / scaling.z_scale["Subject"]
    np.testing.assert_allclose(back[names.sd("Subject")].values, expected_sd, rtol=1e-15)
    assert back[names.BETA].dims == draws[names.BETA].dims


def test_student_t_scales_sigma_not_nu(sleepstudy) -> None:
    family = get_family("student_t")
    assert family.scales_response and family.scale_parameters == (names.SIGMA,)
    design = _design(sleepstudy, 10.0)
    _, scaling = standardize(design, family)
    draws = xr.Dataset({names.NU: (("chain", "draw"), np.full((1, 2), 4.0)),
                        names.SIGMA: (("chain", "draw"), np.ones((1, 2)))})
    back = unscale_draws(draws, scaling)
    assert np.all(back[names.NU].values == 4.0)
    np.testing.assert_allclose(back[names.SIGMA].values, scaling.y_scale)
