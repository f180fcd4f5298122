"""The same seed gives bitwise identical draws in two fresh processes, for every sampler
and engine (issue 15, point 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli_subprocess import cli_env

CONFIGS = [("nutpie", "collapsed"), ("nutpie", "sampled"), ("pymc", "collapsed"),
           ("pymc", "sampled"), ("independence", "collapsed")]
SCRIPT = """
import sys
import numpy as np
import hierlmm

data = hierlmm.datasets.load("sleepstudy")
arrays = {}
for sampler, engine in [c.split("/") for c in sys.argv[2:]]:
    fit = hierlmm.fit("Reaction ~ Days + (Days | Subject)", data, draws=40, tune=40,
                      chains=2, seed=5, sampler=sampler, engine=engine, progress=False,
                      warn_convergence=False)
    for name, variable in fit.posterior.data_vars.items():
        arrays[f"{sampler}/{engine}/{name}"] = variable.values
np.savez(sys.argv[1], **arrays)
"""


@pytest.fixture(scope="module")
def draws(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("determinism")
    configs = [f"{s}/{e}" for s, e in CONFIGS]
    paths = [folder / f"run{i}.npz" for i in range(2)]
    for path in paths:  # one after the other: two fresh processes
        subprocess.run([sys.executable, "-c", SCRIPT, str(path), *configs], env=cli_env(),
                       check=True, timeout=900, capture_output=True)
    return [dict(np.load(Path(p))) for p in paths]


@pytest.mark.parametrize(("sampler", "engine"), CONFIGS)
def test_two_fresh_processes_give_identical_draws(draws, sampler: str, engine: str) -> None:
    first, second = draws
    keys = sorted(k for k in first if k.startswith(f"{sampler}/{engine}/"))
    assert keys and keys == sorted(k for k in second if k.startswith(f"{sampler}/{engine}/"))
    for key in keys:
        assert first[key].tobytes() == second[key].tobytes(), key
