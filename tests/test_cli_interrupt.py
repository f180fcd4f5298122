"""Ctrl-C during sampling: exit status 130, one line, no complete-looking output.

Each case runs ``hierlmm fit`` in a subprocess through a wrapper that writes a marker
file when sampling starts (the CLI code path is unchanged; for PyMC, which compiles
inside ``pm.sample``, at its first NUTS step), waits for it, then sends SIGINT.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _cli_subprocess import SLEEP_MODEL, cli_env

WRAPPER = """
import sys
from pathlib import Path
import hierlmm.inference.fit as fit_module
from hierlmm.cli import main

import pymc.step_methods.hmc.nuts as nuts

marker = Path(sys.argv[1])
real_run_sampler, real_astep = fit_module.run_sampler, nuts.NUTS.astep

def run_sampler(*args, **kwargs):
    marker.with_suffix(".run").write_text("compiled")
    return real_run_sampler(*args, **kwargs)

def astep(self, *args, **kwargs):
    marker.with_suffix(".step").write_text("pymc is stepping")
    return real_astep(self, *args, **kwargs)

fit_module.run_sampler, nuts.NUTS.astep = run_sampler, astep
sys.exit(main(sys.argv[2:]))
"""
# long enough that sampling is still running when SIGINT arrives
DRAWS = {"collapsed": "200000", "sampled": "100000"}


def wait_for(condition, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the fit to start sampling")
        time.sleep(0.2)


@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
@pytest.mark.parametrize("engine", ["collapsed", "sampled"])
def test_sigint_while_sampling(tmp_path: Path, sampler: str, engine: str) -> None:
    model = tmp_path / "model.toml"
    model.write_text(SLEEP_MODEL)
    marker, out, err_path = tmp_path / "marker", tmp_path / "out", tmp_path / "stderr"
    env = cli_env()
    argv = ["fit", str(model), "--out", str(out), "--draws", DRAWS[engine], "--tune", "200",
            "--chains", "2", "--seed", "1", "--sampler", sampler, "--engine", engine,
            "--no-progress", "--no-report"]
    with err_path.open("w") as err:
        process = subprocess.Popen([sys.executable, "-c", WRAPPER, str(marker), *argv],
                                   env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            # nutpie compiles before run_sampler; PyMC inside pm.sample, before its steps
            started = marker.with_suffix(".step" if sampler == "pymc" else ".run")
            wait_for(started.exists, 300)
            time.sleep(1.0)  # the sampler is running: its warm-up takes longer
            assert process.poll() is None, err_path.read_text()[-2000:]
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    assert code == 130
    assert err_path.read_text().splitlines() == ["hierlmm: interrupted"], err_path.read_text()
    assert not (out / "posterior.nc").exists() and not (out / "summary.json").exists()
    assert list(out.iterdir()) == []  # no temporary files either
