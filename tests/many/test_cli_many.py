"""``hierlmm fit-many``: outputs, and resume after the process is killed mid-batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import hierlmm
from hierlmm.cli import main

SETTINGS = {"draws": 100, "tune": 100, "chains": 2, "seed": 5}
ROOT = Path(hierlmm.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> tuple[Path, Path, hierlmm.datasets.SimulatedOutcomes]:
    folder = tmp_path_factory.mktemp("many")
    sim = hierlmm.datasets.simulate_many_sleepstudy(4, seed=9)
    sim.data.to_csv(folder / "rows.csv", index=False)
    sim.outcomes.to_csv(folder / "outcomes.csv", index=False)
    fit = "\n".join(f"{k} = {v}" for k, v in SETTINGS.items())
    model = folder / "many.toml"
    model.write_text(f'[data]\nsource = "rows.csv"\n[model]\nformula = "{sim.formula}"\n'
                     f"[fit]\n{fit}\n", encoding="utf-8")
    return model, folder / "outcomes.csv", sim


def _complete_chunks(store: Path) -> int:
    import zarr

    try:
        chunks = zarr.open_group(str(store), mode="r")["chunks"]
        return sum(bool(chunks[k].attrs.get("complete")) for k in chunks.group_keys())
    except Exception:  # not created yet, or being written
        return 0


@pytest.mark.slow
def test_resume_after_kill_matches_uninterrupted_run(batch, tmp_path) -> None:
    model, outcomes, sim = batch
    out = tmp_path / "out"
    args = [str(model), "--outcomes", str(outcomes), "--out", str(out), "--workers", "0",
            "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "hierlmm.cli", "fit-many", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _complete_chunks(out / "store.zarr") < 1 and proc.poll() is None:
        assert time.monotonic() < deadline, "no chunk finished in 300 s"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _complete_chunks(out / "store.zarr")
    assert 1 <= done_before < 4, "the run was not interrupted mid-batch"
    assert main(["fit-many", *args, "--resume"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["timings"]["skipped"] == done_before
    assert summary["outcomes"] == {"total": 4, "ok": 4, "error": 0}
    reference = hierlmm.fit_many(sim.formula, sim.data, sim.outcomes, executor="serial",
                                 progress=False, backend="python", **SETTINGS)
    resumed = pd.read_parquet(out / "parameters.parquet")
    pd.testing.assert_frame_equal(resumed, reference.table)


def test_outputs_of_fit_many(batch, tmp_path, capsys) -> None:
    model, outcomes, _ = batch
    out = tmp_path / "out"
    assert main(["fit-many", str(model), "--outcomes", str(outcomes), "--out", str(out),
                 "--workers", "0", "--no-progress"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"parameters.parquet", "outcomes.parquet", "variance_partition.parquet",
            "effects.parquet", "summary.json", "report.html", "store.zarr"} <= names
    variance = pd.read_parquet(out / "variance_partition.parquet")
    assert variance.groupby("outcome")["mean"].sum().round(10).eq(1.0).all()
    effects = pd.read_parquet(out / "effects.parquet")
    assert effects["term"].unique().tolist() == ["Days"]
    assert effects["lfsr"].is_monotonic_increasing
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64") == 3
    assert "4 outcomes, 4 ok" in capsys.readouterr().out
