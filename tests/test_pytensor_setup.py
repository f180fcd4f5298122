"""PyTensor is configured where hierlmm first uses it, once, not at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import hierlmm
from hierlmm._pytensor_setup import configure
from hierlmm.design import build_design
from hierlmm.model.builder import build_model


def test_import_does_not_configure_pytensor() -> None:
    code = (
        "import hierlmm\n"
        "from hierlmm._pytensor_setup import configure\n"
        "print(configure.cache_info().misses)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "0", out.stderr[-2000:]


def test_configure_is_idempotent_and_quiet() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert configure() is None
        assert configure() is None
    info = configure.cache_info()
    assert info.misses == 1 and info.currsize == 1 and info.hits >= 1


def test_prior_predictive_configures_pytensor(sleepstudy) -> None:
    configure.cache_clear()  # as in a fresh process, whatever ran before in this session
    hierlmm.report.prior_predictive("Reaction ~ Days + (1 | Subject)", sleepstudy, draws=5,
                                    seed=1)
    assert configure.cache_info().misses == 1


def test_build_model_configures_pytensor(sleepstudy) -> None:
    configure.cache_clear()
    spec = hierlmm.parse_formula("Reaction ~ Days + (1 | Subject)")
    build_model(design=build_design(spec, sleepstudy), spec=spec, engine="sampled")
    assert configure.cache_info().misses == 1


def _configured(compiledir, extra_flags: str = "") -> dict:
    """BLAS and march flags after ``configure()`` in a fresh process using
    ``compiledir``; warnings are errors there."""
    code = ("import json, pytensor\n"
            "from pytensor.link.c.cmodule import GCC_compiler\n"
            "from hierlmm._pytensor_setup import configure\n"
            "configure()\n"
            "print(json.dumps({'blas': pytensor.config.blas__ldflags,"
            " 'march': GCC_compiler.march_flags}))\n")
    flags = ",".join(f for f in (f"base_compiledir={compiledir}", extra_flags) if f)
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                         text=True, check=True, timeout=120,
                         env={**os.environ, "PYTENSOR_FLAGS": flags})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_detected_flags_are_kept_and_read_back(tmp_path) -> None:
    detected = _configured(tmp_path)
    [blas] = tmp_path.rglob("blas-ldflags-*.json")
    [march] = tmp_path.rglob("march-flags-*.json")
    assert json.loads(blas.read_text()) == detected["blas"]
    assert json.loads(march.read_text()) == detected["march"]
    assert isinstance(detected["march"], list)
    blas.write_text('"-lhierlmm_sentinel"')  # a later process reads the files, not detects
    march.write_text('["-march=hierlmm_sentinel"]')
    assert _configured(tmp_path) == {"blas": "-lhierlmm_sentinel",
                                     "march": ["-march=hierlmm_sentinel"]}


def test_blas_flags_set_by_the_user_win(tmp_path) -> None:
    assert _configured(tmp_path, "blas__ldflags=-lmine")["blas"] == "-lmine"
    assert not list(tmp_path.rglob("blas-ldflags-*.json"))
