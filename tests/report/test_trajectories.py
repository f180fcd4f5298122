"""predict() on new data, trajectories() and observed_points()."""

from __future__ import annotations

import formulae
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import hierlmm
import hierlmm.design.encode as encode
from hierlmm.inference.loglik import linear_predictor
from hierlmm.inference.predict import predict
from hierlmm.model import names
from hierlmm.report.trajectories import TABLE_COLUMNS, observed_points, trajectories


@pytest.fixture(scope="module")
def fit(sleep_fit) -> hierlmm.Fit:
    return sleep_fit


@pytest.fixture(scope="module")
def draws(fit):
    post = fit.posterior
    return {
        "beta": post[names.BETA].values,  # (C, D, 2)
        "b": post[names.effects("Subject")].values,  # (C, D, 18, 2)
        "levels": list(fit.design.group("Subject").levels),
    }


def test_known_groups_reproduce_the_fitted_linear_predictor(fit, sleepstudy):
    rows = np.arange(0, 180, 7)
    mu = predict(fit, sleepstudy.iloc[rows])
    assert mu.shape == (2, fit.settings["draws"], rows.size)
    assert_allclose(mu, linear_predictor(fit.posterior, fit.design)[:, :, rows], rtol=1e-12)


def test_known_group_at_new_covariate_value(fit, draws):
    new = pd.DataFrame({"Days": [2.5, 11.0], "Subject": ["309", "372"]})
    mu = predict(fit, new)
    beta, b, levels = draws["beta"], draws["b"], draws["levels"]
    for i, (days, subject) in enumerate(zip(new["Days"], new["Subject"], strict=True)):
        coef = beta + b[:, :, levels.index(subject), :]
        assert_allclose(mu[:, :, i], coef[..., 0] + days * coef[..., 1], rtol=1e-12)


def test_predict_does_not_run_formulae_on_the_training_rows(fit, monkeypatch):
    new = pd.DataFrame({"Days": [2.5, 11.0, 4.0], "Subject": ["309", "372", "new"]})
    first = predict(fit, new, new_groups="sample", seed=4)
    calls = []
    for module in (encode, formulae):
        original = module.design_matrices
        monkeypatch.setattr(module, "design_matrices",
                            lambda *args, _f=original, **kw: calls.append(args) or _f(*args, **kw))
    second = predict(fit, new, new_groups="sample", seed=4)
    trajectories(fit, "Days", groups=["308"], grid=np.array([0.0, 9.0]))
    assert calls == []  # new rows go through the encoders fitted by build_design
    assert_allclose(second, first, rtol=0, atol=0)


def test_integer_labels_match_string_levels(fit):
    as_int = predict(fit, pd.DataFrame({"Days": [3.0], "Subject": [309]}))
    as_str = predict(fit, pd.DataFrame({"Days": [3.0], "Subject": ["309"]}))
    assert_allclose(as_int, as_str, rtol=0, atol=0)


def test_unseen_groups_population_is_fixed_part(fit, draws):
    new = pd.DataFrame({"Days": [0.0, 4.0, 9.0], "Subject": ["new1", "new1", "new2"]})
    mu = predict(fit, new, new_groups="population")
    beta = draws["beta"]
    expected = beta[..., :1] + beta[..., 1:] * new["Days"].to_numpy()
    assert_allclose(mu, expected, rtol=1e-12)
    missing_column = predict(fit, new[["Days"]], new_groups="population")
    assert_allclose(missing_column, expected, rtol=1e-12)


def test_unseen_groups_error_names_levels(fit):
    new = pd.DataFrame({"Days": [1.0, 2.0], "Subject": ["308", "ghost"]})
    with pytest.raises(hierlmm.DataError, match="'ghost'") as info:
        predict(fit, new, new_groups="error")
    assert "'308'" not in str(info.value)


def test_unseen_groups_sample_spread_and_seed(fit):
    new = pd.DataFrame({"Days": [0.0, 9.0], "Subject": ["new", "new"]})
    pop = predict(fit, new, new_groups="population")
    sample = predict(fit, new, new_groups="sample", seed=1)
    assert np.all(sample.std(axis=(0, 1)) > 2 * pop.std(axis=(0, 1)))
    assert_allclose(sample, predict(fit, new, new_groups="sample", seed=1), rtol=0, atol=0)
    assert not np.allclose(sample, predict(fit, new, new_groups="sample", seed=2))
    # sampled effects have the fitted covariance: intercept deviation SD ~ sd(Intercept)
    dev = (sample - pop)[..., 0]
    sd0 = fit.posterior[names.sd("Subject")].values[..., 0]
    assert abs(dev.std() / np.sqrt(np.mean(sd0**2)) - 1) < 0.15


def test_predictive_adds_residual_noise(fit):
    new = pd.DataFrame({"Days": [5.0] * 4, "Subject": ["308"] * 4})
    mean = predict(fit, new, kind="mean")
    pred = predict(fit, new, kind="predictive", seed=3)
    noise = (pred - mean).reshape(-1, 4)
    sigma = fit.posterior[names.SIGMA].values.reshape(-1, 1)
    z = noise / sigma
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.05


def test_predict_input_errors(fit):
    with pytest.raises(hierlmm.DataError, match="column 'Days'"):
        predict(fit, pd.DataFrame({"Subject": ["308"]}))
    with pytest.raises(hierlmm.SpecError, match="new_groups='nope'"):
        predict(fit, pd.DataFrame({"Days": [1.0], "Subject": ["308"]}), new_groups="nope")
    with pytest.raises(hierlmm.DataError, match="missing values"):
        predict(fit, pd.DataFrame({"Days": [1.0], "Subject": [None]}))
    with pytest.raises(hierlmm.DataError, match="no rows"):
        predict(fit, pd.DataFrame({"Days": [], "Subject": []}))


def test_trajectories_table(fit, draws):
    grid = np.array([0.0, 4.5, 9.0])
    table = trajectories(fit, "Days", groups=["308", "335"], grid=grid, prob=0.8, seed=2)
    assert tuple(table.columns) == TABLE_COLUMNS
    assert table.shape == (3 * 3, len(TABLE_COLUMNS))
    assert list(table["group"]) == ["308"] * 3 + ["335"] * 3 + [None] * 3
    assert list(table["curve"]) == ["group"] * 6 + ["population"] * 3
    beta, b, levels = draws["beta"], draws["b"], draws["levels"]
    coef = beta + b[:, :, levels.index("335"), :]
    curve = coef[..., :1] + coef[..., 1:] * grid  # (C, D, 3)
    rows = table[table["group"] == "335"]
    assert_allclose(rows["mean"], curve.mean(axis=(0, 1)), rtol=1e-12)
    assert_allclose(rows["lower"], np.quantile(curve.reshape(-1, 3), 0.1, axis=0), rtol=1e-12)
    pop = table[table["curve"] == "population"]
    pop_curve = beta[..., :1] + beta[..., 1:] * grid
    assert_allclose(pop["mean"], pop_curve.mean(axis=(0, 1)), rtol=1e-12)
    assert np.all(table["lower"] <= table["mean"]) and np.all(table["mean"] <= table["upper"])
    assert np.all(table["pred_lower"] < table["lower"])
    assert np.all(table["pred_upper"] > table["upper"])
    # a new subject's predictive band is wider than a known one's
    width = table["pred_upper"] - table["pred_lower"]
    assert width[table["curve"] == "population"].min() > width[table["curve"] == "group"].max()


def test_trajectories_defaults_and_points(fit, sleepstudy):
    table = trajectories(fit, "Days")
    assert table["group"].nunique() == 12  # first 12 subjects by default
    assert sorted(table["x"].unique()) == list(range(10))
    points = observed_points(fit, "Days", ["308", "309"])
    assert points.shape == (20, 5)
    expected = sleepstudy[sleepstudy["Subject"].isin(["308", "309"])]["Reaction"].to_numpy()
    assert_allclose(points["y"].to_numpy(), expected, rtol=0)


def test_trajectories_errors(fit):
    with pytest.raises(hierlmm.DataError, match="covariate 'Reaction'"):
        trajectories(fit, "Reaction")
    with pytest.raises(hierlmm.DataError, match="not levels of 'Subject'"):
        trajectories(fit, "Days", groups=["999"])
