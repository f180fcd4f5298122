"""Predictions for new groups of nested and crossed designs, and the new effects' moments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _fakes import posterior_fit

import hierlmm
from hierlmm.inference.predict import predict
from hierlmm.model import names


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, *x.shape[2:])


def test_new_slope_effects_have_the_posterior_sds_and_correlation(sleep_fit) -> None:
    """A new subject's sampled effects b = (b0, b1), read off predictions at Days 0 and 1
    minus the population line, standardized per draw by that draw's SDs: z_k = b_k / sd_k
    has variance 1 and E[z_0 z_1 - rho] = 0. Over the 1,000 draws the standard errors are
    sqrt(2 / 1000) = 0.045 and below sqrt(2 / 1000); the tolerance is 4 SE = 0.18."""
    new = pd.DataFrame({"Days": [0.0, 1.0], "Subject": ["newcomer", "newcomer"]})
    sample = _flat(predict(sleep_fit, new, new_groups="sample", seed=11))  # (S, 2)
    population = _flat(predict(sleep_fit, new, new_groups="population"))
    b0 = sample[:, 0] - population[:, 0]
    b1 = (sample[:, 1] - population[:, 1]) - b0
    sd = _flat(sleep_fit.posterior[names.sd("Subject")].values)  # (S, 2)
    rho = _flat(sleep_fit.posterior[names.corr("Subject")].values)[:, 0, 1]
    z0, z1 = b0 / sd[:, 0], b1 / sd[:, 1]
    tol = 4 * np.sqrt(2 / z0.size)
    assert abs(np.mean(z0**2) - 1) < tol and abs(np.mean(z1**2) - 1) < tol
    assert abs(np.mean(z0 * z1 - rho)) < tol
    assert abs(np.mean(z0)) < 4 / np.sqrt(z0.size) and abs(np.mean(z1)) < 4 / np.sqrt(z0.size)


def test_nested_new_batch_and_new_cask_of_a_known_batch(nested_fit, pastes_data) -> None:
    """Pastes-like batch/cask: a new cask of a known batch keeps that batch's effect and
    adds a cask effect of SD sd_cask; a new batch adds both SDs (variance sd_b^2 + sd_c^2)."""
    known = pastes_data["batch"].iloc[0]
    new = pd.DataFrame({"batch": [known, "new-batch"], "cask": ["new-cask", "new-cask"]})
    population = _flat(predict(nested_fit, new, new_groups="population"))
    sample = _flat(predict(nested_fit, new, new_groups="sample", seed=3))
    post = nested_fit.posterior
    beta = _flat(post[names.BETA].values)[:, 0]
    b_batch = _flat(post[names.effects("batch")].sel({names.level_dim("batch"): known}).values)
    np.testing.assert_allclose(population[:, 0], beta + b_batch[:, 0], rtol=1e-12)
    np.testing.assert_allclose(population[:, 1], beta, rtol=1e-12)
    sd_b = _flat(post[names.sd("batch")].values)[:, 0]
    sd_c = _flat(post[names.sd("batch:cask")].values)[:, 0]
    z_cask = (sample[:, 0] - population[:, 0]) / sd_c
    z_both = (sample[:, 1] - population[:, 1]) / np.sqrt(sd_b**2 + sd_c**2)
    tol = 4 * np.sqrt(2 / z_cask.size)
    assert abs(np.mean(z_cask**2) - 1) < tol and abs(np.mean(z_both**2) - 1) < tol


def test_crossed_new_plate_keeps_the_known_sample_effect(crossed_fit) -> None:
    data = crossed_fit.design.data
    sample_level = str(data["sample"].iloc[0])
    new = pd.DataFrame({"plate": ["new-plate"], "sample": [sample_level]})
    with pytest.raises(hierlmm.DataError, match="new-plate"):
        predict(crossed_fit, new)
    population = _flat(predict(crossed_fit, new, new_groups="population"))[:, 0]
    post = crossed_fit.posterior
    beta = _flat(post[names.BETA].values)[:, 0]
    b_sample = _flat(post[names.effects("sample")].sel(
        {names.level_dim("sample"): sample_level}).values)[:, 0]
    np.testing.assert_allclose(population, beta + b_sample, rtol=1e-12)
    sample = _flat(predict(crossed_fit, new, new_groups="sample", seed=9))[:, 0]
    sd_plate = _flat(post[names.sd("plate")].values)[:, 0]
    z = (sample - population) / sd_plate
    assert abs(np.mean(z**2) - 1) < 4 * np.sqrt(2 / z.size)


def test_a_new_level_of_a_fixed_categorical_term_is_refused_by_name() -> None:
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"y": rng.normal(size=24), "treat": ["a", "b", "c"] * 8,
                         "g": np.repeat(["g1", "g2", "g3", "g4"], 6)})
    draws = {"beta": rng.normal(size=(2, 20, 3)), "sigma": np.ones((2, 20)) + 0.1,
             "sd_g": np.ones((2, 20, 1)), "b_g": rng.normal(size=(2, 20, 4, 1))}
    fit = posterior_fit("y ~ treat + (1 | g)", data, draws)
    ok = predict(fit, pd.DataFrame({"treat": ["b"], "g": ["g1"]}))
    beta, b = draws["beta"], draws["b_g"]
    np.testing.assert_allclose(ok[..., 0], beta[..., 0] + beta[..., 1] + b[:, :, 0, 0])
    for new_groups in ("error", "population", "sample"):
        with pytest.raises(hierlmm.DataError, match="treat") as info:
            predict(fit, pd.DataFrame({"treat": ["zzz"], "g": ["g1"]}), new_groups=new_groups)
        assert "zzz" in str(info.value)
