"""The PyMC NUTS backend gives the same posterior as nutpie (collapsed engine)."""

from __future__ import annotations

import numpy as np
import pytest

import hierlmm
from hierlmm.errors import SpecError

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
