"""PyTensor is configured where hierlmm first uses it, once, not at import."""

from __future__ import annotations

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
