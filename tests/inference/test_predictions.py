"""fit.predict: estimates with intervals per new row, tidy draws, and unseen groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import hierlmm
from hierlmm.inference.predict import predict
from hierlmm.model import names

NEW = pd.DataFrame({"Days": [0.0, 4.5, 9.0], "Subject": ["308", "309", "308"]},
                   index=["a", "b", "c"])
UNSEEN = pd.DataFrame({"Days": [0.0, 9.0], "Subject": ["308", "newcomer"]})


@pytest.fixture(scope="module")
def fit(sleep_fit) -> hierlmm.Fit:
    return sleep_fit


def test_mean_table_summarises_predict_draws(fit) -> None:
    table = fit.predict(NEW, interval=0.8)
    assert table.index.tolist() == ["a", "b", "c"]
    assert table.columns.tolist() == ["estimate", "lower", "upper"]
    draws = predict(fit, NEW).reshape(-1, 3)
    assert_allclose(table["estimate"], draws.mean(axis=0), rtol=1e-12)
    assert_allclose(table["lower"], np.quantile(draws, 0.1, axis=0), rtol=1e-12)
    assert_allclose(table["upper"], np.quantile(draws, 0.9, axis=0), rtol=1e-12)
    assert np.all((table["lower"] < table["estimate"]) & (table["estimate"] < table["upper"]))
    # Subject 308 at day 0: beta_0 + b_308,0
    b = fit.posterior[names.effects("Subject")].values[:, :, 0, 0]
    expected = (fit.posterior[names.BETA].values[..., 0] + b).mean()
    assert table.loc["a", "estimate"] == pytest.approx(expected, rel=1e-10)


def test_predictive_interval_is_wider_and_contains_the_mean(fit) -> None:
    table = fit.predict(NEW, interval=0.9, predictive=True, seed=1)
    assert table.columns.tolist() == ["estimate", "lower", "upper", "predicted_estimate",
                                      "predicted_lower", "predicted_upper"]
    assert np.all(table["predicted_lower"] < table["lower"])
    assert np.all(table["predicted_upper"] > table["upper"])
    assert np.all((table["predicted_lower"] < table["estimate"])
                  & (table["estimate"] < table["predicted_upper"]))
    # +-1.645 predictive SDs around the mean: sqrt(sigma^2 + Var(mean)), sigma about 25 ms
    width = (table["predicted_upper"] - table["predicted_lower"]).to_numpy()
    sigma2 = (fit.posterior[names.SIGMA].values ** 2).mean()
    mean_var = predict(fit, NEW).reshape(-1, 3).var(axis=0)
    assert np.all(np.abs(width / (2 * 1.645 * np.sqrt(sigma2 + mean_var)) - 1) < 0.2)


def test_draws_table_is_long(fit) -> None:
    table = fit.predict(NEW, kind="draws", predictive=True, seed=2)
    assert table.columns.tolist() == ["row", "chain", "draw", "estimate", "predicted"]
    draws = fit.settings["draws"]
    assert table.shape == (3 * 2 * draws, 5)
    mean = predict(fit, NEW)
    first = table[table["row"] == "b"]
    assert_allclose(first["estimate"], mean[:, :, 1].reshape(-1), rtol=0, atol=0)
    assert first["chain"].tolist()[draws - 1:draws + 1] == [0, 1]


def test_unseen_group_errors_by_default(fit) -> None:
    for call in (lambda: fit.predict(UNSEEN), lambda: predict(fit, UNSEEN),
                 lambda: hierlmm.predict(fit, UNSEEN)):
        with pytest.raises(hierlmm.DataError, match="'newcomer'") as info:
            call()
        assert '"population"' in str(info.value) and '"sample"' in str(info.value)


def test_unseen_group_population_and_sample(fit) -> None:
    population = fit.predict(UNSEEN, new_groups="population")
    beta = fit.posterior[names.BETA].values.reshape(-1, 2)
    assert population.loc[1, "estimate"] == pytest.approx(
        (beta[:, 0] + 9 * beta[:, 1]).mean(), rel=1e-10)
    sample = fit.predict(UNSEEN, new_groups="sample", seed=4)
    # the known subject is untouched; the newcomer's interval widens by the group SDs
    assert sample.loc[0].to_numpy() == pytest.approx(population.loc[0].to_numpy(), rel=1e-12)
    assert (sample.loc[1, "upper"] - sample.loc[1, "lower"]) > 2 * (
        population.loc[1, "upper"] - population.loc[1, "lower"])
    repeat = fit.predict(UNSEEN, new_groups="sample", seed=4)
    pd.testing.assert_frame_equal(sample, repeat)


def test_sampled_new_groups_share_effects_between_mean_and_predictive(fit) -> None:
    table = fit.predict(UNSEEN, kind="draws", new_groups="sample", predictive=True, seed=5)
    noise = (table["predicted"] - table["estimate"]).to_numpy()
    sigma = np.tile(fit.posterior[names.SIGMA].values.reshape(-1), 2)
    z = noise / sigma
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.06  # only residual noise


def test_bad_kind(fit) -> None:
    with pytest.raises(hierlmm.SpecError, match="kind='nope'"):
        fit.predict(NEW, kind="nope")
