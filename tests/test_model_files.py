"""Every model file under models/ runs through the CLI (found by glob, small draws)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hierlmm.cli import main

MODELS = sorted((Path(__file__).resolve().parents[1] / "models").glob("*.toml"))


def test_model_files_exist() -> None:
    assert any(p.name == "sleepstudy.toml" for p in MODELS)


@pytest.mark.filterwarnings("ignore::hierlmm.ConvergenceWarning")
@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_model_file_fits(path: Path, tmp_path: Path, capsys) -> None:
    argv = ["fit", str(path), "--out", str(tmp_path), "--draws", "200", "--tune", "300",
            "--chains", "2", "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"]["n_obs"] > 0
    assert summary["diagnostics"]["max_rhat"] is not None
    assert (tmp_path / "posterior.nc").exists()
