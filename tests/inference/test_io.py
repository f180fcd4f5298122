"""Saving and loading fits: netCDF round trips, column dtypes, and clear errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from _fakes import posterior_fit

import hierlmm
from hierlmm.design import build_design
from hierlmm.errors import FitError
from hierlmm.inference.io import load_fit, save_fit, saved_run_id
from hierlmm.inference.netcdf import DESIGN_GROUP, design_data_dataset, design_data_frame
from hierlmm.inference.result import Fit
from hierlmm.model import names


@pytest.fixture(scope="module")
def sleep_fit() -> Fit:
    return hierlmm.fit(
        "Reaction ~ Days + (Days | Subject)", hierlmm.datasets.load("sleepstudy"),
        draws=200, tune=200, chains=2, seed=11, engine="sampled", progress=False,
        warn_convergence=False,
    )


def mixed_frame(n: int = 80, seed: int = 0) -> pd.DataFrame:
    """Columns of every dtype a design may hold; level orders that differ from str sort."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n).astype(np.float32),
        "treat": pd.Categorical(rng.choice(["placebo", "drug"], n), ["placebo", "drug"]),
        "g": pd.array(rng.integers(1, 12, n), dtype="Int64"),  # numeric order 1, 2, ..., 11
        "site": pd.Categorical(rng.choice(["s1", "s2", "s3"], n), ["s3", "s1", "s2"]),
        "plot": rng.integers(0, 3, n).astype(np.int32),
    })


def fake_fit(formula: str, data: pd.DataFrame, *, seed: int = 0, y_shift: float = 0.0) -> Fit:
    """A Fit with random 'posterior' draws of the right names and shapes (no sampling)."""
    design = build_design(hierlmm.parse_formula(formula), data)
    rng = np.random.default_rng(seed)
    chains, draws = 2, 40
    cd = ("chain", "draw")
    variables = {names.BETA: rng.normal(size=(chains, draws, design.p)),
                 names.SIGMA: rng.gamma(5.0, size=(chains, draws))}
    for g in design.groups:
        variables[names.sd(g.factor)] = rng.gamma(3.0, size=(2, 40, g.q))
        variables[names.effects(g.factor)] = rng.normal(size=(2, 40, g.n_levels, g.q))
    message = np.full((chains, draws), None, dtype=object)
    message[1, 3] = "divergence at step 3"
    stats = xr.Dataset({
        "diverging": (cd, message != None),  # noqa: E711 - elementwise comparison
        "divergence_message": (cd, message),
    })
    obs = xr.Dataset({names.RESPONSE: ((names.OBS_DIM,), design.y + y_shift)},
                     coords={names.OBS_DIM: np.arange(design.n)})
    return posterior_fit(formula, data, variables,
                         groups={"sample_stats": stats, "observed_data": obs},
                         engine="sampled", sampler="pymc", seed=seed, object_labels=True,
                         timings={"build_s": 0.25, "total_s": 1.5},
                         settings={"draws": draws, "tune": 0, "chains": chains,
                                   "na_action": "raise"})


def assert_same_design(a, b) -> None:
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.fixed_names == b.fixed_names
    assert a.response == b.response and a.n_dropped == b.n_dropped
    assert [g.factor for g in a.groups] == [g.factor for g in b.groups]
    for ga, gb in zip(a.groups, b.groups, strict=True):
        np.testing.assert_array_equal(ga.codes, gb.codes)
        np.testing.assert_array_equal(ga.Z, gb.Z)
        assert (ga.levels, ga.terms, ga.correlated) == (gb.levels, gb.terms, gb.correlated)


def test_sampled_fit_round_trip(sleep_fit: Fit, tmp_path: Path) -> None:
    path = sleep_fit.save(tmp_path / "fit.nc")
    assert path == (tmp_path / "fit.nc").resolve() and path.stat().st_size > 0
    loaded = hierlmm.load(path)
    pd.testing.assert_frame_equal(sleep_fit.summary(), loaded.summary())
    xr.testing.assert_identical(sleep_fit.idata, loaded.idata)
    assert loaded.spec == sleep_fit.spec
    assert_same_design(sleep_fit.design, loaded.design)
    pd.testing.assert_frame_equal(sleep_fit.design.data, loaded.design.data)
    assert (loaded.engine, loaded.sampler, loaded.seed) == ("sampled", "nutpie", 11)
    assert loaded.timings == sleep_fit.timings
    assert loaded.settings == sleep_fit.settings
    levels = loaded.posterior[names.level_dim("Subject")]
    assert levels.dtype == object and levels.values[0] == "308" and levels.size == 18
    assert sorted(loaded.idata.children) == [
        "log_likelihood", "observed_data", "posterior", "sample_stats",
    ]


def test_saved_file_is_plain_netcdf_with_design_data(sleep_fit: Fit, tmp_path: Path) -> None:
    path = save_fit(sleep_fit, tmp_path / "fit.nc")
    tree = xr.load_datatree(path, engine="h5netcdf")
    assert tree.attrs["hierlmm_format"] == "hierlmm-fit"
    assert tree.attrs["hierlmm_engine"] == "sampled"
    stored = tree[DESIGN_GROUP].to_dataset()
    assert list(stored.data_vars) == ["Reaction", "Days", "Subject"]
    assert stored.sizes == {"design_row": 180}
    assert stored["Days"].dtype == np.int64 and stored["Subject"].dtype.kind == "U"


def test_level_order_categories_and_nested_factor_survive(tmp_path: Path) -> None:
    fit = fake_fit("y ~ treat + x + (1 + x | g) + (1 | site/plot)", mixed_frame())
    assert fit.design.group("g").levels[:3] == ("1", "2", "3")
    assert fit.design.group("site").levels == ("s3", "s1", "s2")
    loaded = load_fit(save_fit(fit, tmp_path / "mixed.nc"))
    assert_same_design(fit.design, loaded.design)
    assert loaded.design.group("site:plot").levels[:2] == ("s3:0", "s3:1")
    xr.testing.assert_identical(fit.idata, loaded.idata)
    pd.testing.assert_frame_equal(fit.summary(), loaded.summary())
    assert loaded.timings == {"build_s": 0.25, "total_s": 1.5}


def test_loaded_fit_rebuilds_encoders_and_predicts_the_same(tmp_path: Path) -> None:
    fit = fake_fit("y ~ center(x) + poly(plot, 2) + treat + (1 + scale(x) | g)", mixed_frame())
    loaded = load_fit(save_fit(fit, tmp_path / "fit.nc"))
    assert loaded.design.encoders is not None
    assert loaded.design.encoders is not fit.design.encoders  # rebuilt by build_design
    new = pd.DataFrame({
        "x": np.array([-1.5, 0.0, 2.5], dtype=np.float32),
        "treat": pd.Categorical(["drug", "placebo", "drug"], ["placebo", "drug"]),
        "g": [3, 5, 42],
        "plot": np.array([2, 0, 1], dtype=np.int32),
    })
    # g=42 is unseen: new_groups="error" is the default since issue 11
    for kwargs in ({"new_groups": "population"}, {"new_groups": "sample", "seed": 2},
                   {"new_groups": "population", "kind": "predictive", "seed": 3}):
        np.testing.assert_array_equal(
            hierlmm.predict(loaded, new, **kwargs), hierlmm.predict(fit, new, **kwargs)
        )


def test_none_in_object_sample_stats_is_restored(tmp_path: Path) -> None:
    fit = fake_fit("y ~ x + (1 | g)", mixed_frame())
    loaded = load_fit(save_fit(fit, tmp_path / "fit.nc"))
    message = loaded.idata["sample_stats"].to_dataset()["divergence_message"].values
    assert message.dtype == object
    assert message[1, 3] == "divergence at step 3"
    assert pd.isna(message).sum() == 2 * 40 - 1
    assert loaded.diagnostics()["divergences"] == 1


def test_column_dtypes_round_trip_through_netcdf(tmp_path: Path) -> None:
    frame = mixed_frame(10).assign(
        ids=pd.Series(list(range(10)), dtype=object),
        flag=np.arange(10) % 2 == 0,
        label=pd.Series([f"L{i}" for i in range(10)], dtype=object),
    )
    xr.DataTree.from_dict({"/d": design_data_dataset(frame)}).to_netcdf(
        tmp_path / "d.nc", engine="h5netcdf"
    )
    tree = xr.load_datatree(tmp_path / "d.nc", engine="h5netcdf")
    back = design_data_frame(tree["d"].to_dataset())
    assert list(back.columns) == list(frame.columns)
    expected = {"y": "float64", "x": "float32", "treat": "category", "g": "int64",
                "site": "category", "plot": "int32", "ids": "int64", "flag": "bool",
                "label": "str"}
    assert {c: str(back[c].dtype) for c in back.columns} == expected
    assert list(back["site"].cat.categories) == ["s3", "s1", "s2"]
    assert list(back["treat"].cat.categories) == ["placebo", "drug"]
    np.testing.assert_array_equal(back["g"].to_numpy(), frame["g"].to_numpy(dtype=np.int64))
    np.testing.assert_array_equal(back["x"].to_numpy(), frame["x"].to_numpy())
    assert back["label"].tolist() == frame["label"].tolist()


def test_missing_file_raises_fit_error(tmp_path: Path) -> None:
    with pytest.raises(FitError, match=r"no saved fit at .*nothere\.nc"):
        hierlmm.load(tmp_path / "nothere.nc")


def test_foreign_netcdf_raises_fit_error(tmp_path: Path) -> None:
    path = tmp_path / "other.nc"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(FitError, match="not a saved hierlmm fit"):
        load_fit(path)


def test_non_netcdf_file_raises_fit_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.nc"
    path.write_text("just text\n")
    with pytest.raises(FitError, match="not a netCDF file written by hierlmm"):
        load_fit(path)


def test_response_mismatch_raises_fit_error(tmp_path: Path) -> None:
    fit = fake_fit("y ~ x + (1 | g)", mixed_frame(), y_shift=1e-9)
    path = save_fit(fit, tmp_path / "bad.nc")
    with pytest.raises(FitError, match="response re-encoded .* differs from observed_data"):
        load_fit(path)


def test_save_into_missing_folder_raises_fit_error(tmp_path: Path) -> None:
    fit = fake_fit("y ~ x + (1 | g)", mixed_frame())
    with pytest.raises(FitError, match="does not exist"):
        save_fit(fit, tmp_path / "no" / "such" / "fit.nc")
    assert not (tmp_path / "no").exists()


def test_missing_attribute_reports_a_damaged_file(tmp_path: Path) -> None:
    fit = fake_fit("y ~ x + (1 | g)", mixed_frame())
    tree = xr.load_datatree(save_fit(fit, tmp_path / "fit.nc"), engine="h5netcdf")
    del tree.attrs["hierlmm_seed"]
    tree.to_netcdf(tmp_path / "edited.nc", engine="h5netcdf")
    with pytest.raises(FitError, match="edited.nc is damaged: cannot read hierlmm_seed"):
        load_fit(tmp_path / "edited.nc")


@pytest.mark.parametrize(("attribute", "value", "message"), [
    ("hierlmm_engine", "turbo", "hierlmm_engine 'turbo' is not one of collapsed, sampled"),
    ("hierlmm_sampler", "stan", "hierlmm_sampler 'stan' is not one of auto, nutpie, pymc"),
    ("hierlmm_timings", '{"total_s": -1}', "hierlmm_timings must map names to finite"),
    ("hierlmm_timings", '[1, 2]', "hierlmm_timings must map names to finite"),
    ("hierlmm_settings", '"draws"', "hierlmm_settings must be a JSON object"),
])
def test_edited_attributes_are_validated(tmp_path: Path, attribute: str, value: str,
                                         message: str) -> None:
    fit = fake_fit("y ~ x + (1 | g)", mixed_frame())
    tree = xr.load_datatree(save_fit(fit, tmp_path / "fit.nc"), engine="h5netcdf")
    tree.attrs[attribute] = value
    tree.to_netcdf(tmp_path / "edited.nc", engine="h5netcdf")
    with pytest.raises(FitError, match=rf"edited.nc is damaged: {re.escape(message)}"):
        load_fit(tmp_path / "edited.nc")


def test_run_id_is_stored_when_given(tmp_path: Path) -> None:
    fit = fake_fit("y ~ x + (1 | g)", mixed_frame())
    assert saved_run_id(save_fit(fit, tmp_path / "plain.nc")) is None
    assert saved_run_id(save_fit(fit, tmp_path / "run.nc", run_id="abc123")) == "abc123"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.nc", "run.nc"]  # no temps


def test_event_label_of_a_two_label_binary_response_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    coded = rng.integers(0, 2, 60).astype(float)
    frame = pd.DataFrame({"y": coded, "x": rng.normal(size=60), "g": np.repeat(np.arange(6), 10)})
    fit = fake_fit("y ~ x + (1 | g)", frame)
    labelled = frame.assign(y=np.where(coded > 0.5, "remission", "none"))
    spec = hierlmm.parse_formula("y ~ x + (1 | g)", family="bernoulli")
    design = build_design(spec, labelled)
    assert design.event_label == "remission"  # sorted labels: the second counts as 1
    fit = dataclasses.replace(fit, spec=spec, design=design)
    loaded = load_fit(save_fit(fit, tmp_path / "binary.nc"))
    assert loaded.design.event_label == "remission"
    np.testing.assert_array_equal(loaded.design.y, coded)
    unlabelled = load_fit(save_fit(fake_fit("y ~ x + (1 | g)", frame), tmp_path / "plain.nc"))
    assert unlabelled.design.event_label is None
