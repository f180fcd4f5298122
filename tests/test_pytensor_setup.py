"""PyTensor is configured where hierlmm first uses it, once, not at import."""

from __future__ import annotations

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


def _configured_flags(compiledir, extra_flags: str = "") -> str:
    """``blas__ldflags`` after ``configure()`` in a fresh process using ``compiledir``."""
    code = ("from hierlmm._pytensor_setup import configure\n"
            "import pytensor\nconfigure()\nprint(repr(pytensor.config.blas__ldflags))\n")
    flags = ",".join(f for f in (f"base_compiledir={compiledir}", extra_flags) if f)
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                         text=True, check=True, timeout=120,
                         env={**os.environ, "PYTENSOR_FLAGS": flags})
    return out.stdout.strip()


def test_blas_flags_are_detected_once_and_read_back(tmp_path) -> None:
    detected = _configured_flags(tmp_path)
    [kept] = tmp_path.rglob("blas-ldflags-*.txt")
    assert repr(kept.read_text()) == detected
    kept.write_text("-lhierlmm_sentinel")  # a later process reads the file, not detects
    assert _configured_flags(tmp_path) == "'-lhierlmm_sentinel'"


def test_blas_flags_set_by_the_user_win(tmp_path) -> None:
    assert _configured_flags(tmp_path, "blas__ldflags=-lmine") == "'-lmine'"
    assert not list(tmp_path.rglob("blas-ldflags-*.txt"))
