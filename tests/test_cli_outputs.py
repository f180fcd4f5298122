"""Outputs of ``hierlmm fit`` are atomic and concurrent-safe, tied by a run id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_subprocess import SLEEP_MODEL, cli_env

import hierlmm
from hierlmm.cli import main
from hierlmm.inference.io import saved_run_id
from hierlmm.inference.outputs import Staging


def cli_command(model: Path, out: Path, seed: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hierlmm.cli", "fit", str(model), "--out", str(out),
            "--draws", "60", "--tune", "60", "--chains", "1", "--seed", str(seed),
            "--no-progress", *extra]


@pytest.fixture(scope="module")
def concurrent(tmp_path_factory: pytest.TempPathFactory):
    """Two CLI fits started together into one --out folder."""
    folder = tmp_path_factory.mktemp("concurrent")
    model = folder / "model.toml"
    model.write_text(SLEEP_MODEL)
    out = folder / "out"
    runs = [subprocess.Popen(cli_command(model, out, seed), env=cli_env(), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for seed in (1, 2)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in runs]
    for p in runs:
        p.stdout.close()
        p.stderr.close()
    return out, results


def test_two_concurrent_runs_both_succeed(concurrent) -> None:
    out, results = concurrent
    for code, _, stderr in results:
        assert code == 0, stderr
        assert "Traceback" not in stderr and "error" not in stderr
    # no temporary file or folder is left; the report is staged and renamed in too
    names = sorted(p.name for p in out.iterdir())
    assert names == ["figures", "posterior.nc", "report.html", "summary.json"]
    assert len(list((out / "figures").glob("*.png"))) >= 8


def test_files_left_behind_are_a_matching_loadable_pair(concurrent) -> None:
    out, _ = concurrent
    summary = json.loads((out / "summary.json").read_text())
    assert saved_run_id(out / "posterior.nc") == summary["run"]["id"]
    loaded = hierlmm.load(out / "posterior.nc")
    assert loaded.seed == summary["model"]["seed"]
    assert loaded.summary().loc["Days", "mean"] == pytest.approx(summary["fixed"]["Days"]["mean"])


def test_summary_refuses_a_mismatched_pair(concurrent, tmp_path: Path, capsys) -> None:
    out, _ = concurrent
    (tmp_path / "posterior.nc").write_bytes((out / "posterior.nc").read_bytes())
    summary = json.loads((out / "summary.json").read_text())
    summary["run"]["id"] = "0" * 32
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    code = main(["summary", str(tmp_path / "posterior.nc")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert f"is from run {'0' * 32} but the saved fit next to it is from run" in err
    assert "mixes two runs" in err


def test_staging_removes_unpublished_files(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), Staging(tmp_path, "abc") as staging:
        staging.path("summary.json").write_text("{}")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with Staging(tmp_path, "def") as staging:
        staging.path("summary.json").write_text("{}")
        assert staging.publish() == [tmp_path / "summary.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
