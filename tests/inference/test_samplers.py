"""The PyMC NUTS backend gives the same posterior as nutpie (collapsed engine)."""

from __future__ import annotations

import numpy as np
import pytest

import hierlmm
from hierlmm.errors import FitError, SpecError

pytestmark = pytest.mark.slow


def test_pymc_sampler_matches_nutpie(sleepstudy) -> None:
    kw = dict(draws=500, tune=500, chains=2, progress=False)
    a = hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, sampler="pymc", seed=4, **kw)
    b = hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, sampler="nutpie", seed=4,
                    **kw)
    assert a.sampler == "pymc" and a.engine == "collapsed"
    assert a.posterior["b_Subject"].shape == (2, 500, 18, 2)
    sa, sb = a.summary(), b.summary()
    gap = (sa["mean"] - sb["mean"]).abs() / np.maximum(sa["sd"], sb["sd"])
    assert (gap < 0.25).all(), gap.to_dict()


@pytest.mark.parametrize("sampler", ["numpyro", "blackjax"])
def test_jax_samplers_need_the_extra(sleepstudy, sampler) -> None:
    try:
        import jax  # noqa: F401

        pytest.skip("jax is installed; the missing-extra message does not apply")
    except ImportError:
        pass
    with pytest.raises(SpecError, match="jax"):
        hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, sampler=sampler,
                    draws=10, tune=10, chains=1, progress=False)


@pytest.mark.parametrize("sampler", [
    "numpyro",
    pytest.param("blackjax", marks=pytest.mark.xfail(
        raises=(TypeError, FitError), strict=False,
        reason="blackjax 1.7.1 through PyMC 6.4 fails: kernel() got an unexpected keyword "
               "argument 'progress_bar', or (jax 0.12.0.1) 'cannot select an axis to "
               "squeeze out' in jax's pmap (both seen 2026-12-03)")),
])
def test_jax_samplers_fit_when_the_extra_is_installed(sleepstudy, sampler) -> None:
    """With the ``jax`` extra installed, both JAX samplers agree with nutpie's posterior."""
    pytest.importorskip("jax", reason="the jax extra (pip install hierlmm[jax]) is not "
                        "installed")
    pytest.importorskip(sampler)
    kw = dict(draws=300, tune=300, chains=2, seed=4, progress=False, warn_convergence=False)
    fit = hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, sampler=sampler, **kw)
    reference = hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, **kw)
    assert fit.sampler == sampler and fit.engine == "collapsed"
    assert fit.posterior["b_Subject"].shape == (2, 300, 18, 2)
    sa, sb = fit.summary(), reference.summary()
    gap = (sa["mean"] - sb["mean"]).abs() / np.maximum(sa["sd"], sb["sd"])
    assert (gap < 0.3).all(), gap.to_dict()


def test_compiled_density_has_no_shared_inner_functions() -> None:
    """PyMC's correlation transform pads through PyTensor's ``Pad``, an OpFromGraph whose
    compiled inner function lives on the Op, so every copy of the compiled functions (one
    per sampler thread) would share its storage: a fit of a crossed random-slope design
    on two threads failed with "Number of dimensions lower than expected". The compiled
    density inlines such nodes. (A threaded stress test of the copies passes without the
    fix too, as the race needs a GIL-free call in between; hence this structural check,
    and the fits on one and three threads in tests/model/test_allfactor_engine.py.)"""
    import pymc as pm
    from pytensor.compile.builders import OpFromGraph

    from hierlmm._pytensor_setup import PYTHON_MODE
    from hierlmm.inference.pyfunc import compile_density

    with pm.Model() as model:
        chol = pm.LKJCorr("chol_corr", n=3, eta=2.0)  # hierlmm's correlation prior
        pm.Deterministic("corr", chol @ chol.T)
    # the independence sampler's mode (C linker, Python Ops as thunks)
    density = compile_density(model, var_names=["corr"], with_value=True, mode=PYTHON_MODE)
    for function in (density.logp_dlogp, density.expand, density.logp):
        assert not [n for n in function.maker.fgraph.apply_nodes
                    if isinstance(n.op, OpFromGraph)]
    x = np.random.default_rng(0).normal(size=density.ndim)
    corr = density.expand(x)[0]
    np.testing.assert_allclose(np.diag(corr), 1.0, rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(corr) > 0)
