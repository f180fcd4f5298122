"""The all-factor likelihood on a real large crossed design agrees with lme4 to 1e-8.

InstEval (73,421 ratings; 2,972 students x 1,128 lecturers x 14 departments, crossed):
hierlmm's exact REML log-likelihood, every factor integrated out
(:func:`~hierlmm.engines.collapsed.allfactor.reml_loglik`), evaluated at lme4's REML
estimates, equals lme4's REML criterion / -2, and its GLS fixed effects equal lme4's.
lme4's numbers are stored in ``tests/statistical/reference/insteval_lme4.json`` by
``make_insteval_lme4.R`` (R 4.2.2, lme4 1.1.31); the suite does not run R. lme4 reports
its estimates rounded by its optimiser's tolerance, so the criterion is compared at the
precision those estimates carry: a relative change of 1e-7 in an SD moves it by ~1e-9.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import hierlmm
from hierlmm.design import build_design
from hierlmm.engines.collapsed.allfactor import Response, reml_loglik
from hierlmm.engines.collapsed.blocks import factor_blocks, order_groups, response_blocks
from hierlmm.spec import parse_formula

REFERENCE = Path(__file__).parents[1] / "statistical" / "reference" / "insteval_lme4.json"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def insteval():
    ref = json.loads(REFERENCE.read_text())
    data = hierlmm.datasets.load("insteval")
    for col in ("s", "d", "dept", "service"):
        data[col] = data[col].astype(str)
    design = build_design(parse_formula(ref["model"]), data)
    return ref, design, factor_blocks(design), Response(*response_blocks(design, design.y))


def test_reml_at_lme4_estimates_equals_lme4_criterion(insteval):
    ref, design, blocks, resp = insteval
    assert design.n == ref["n"] and blocks.is_sparse and blocks.m == 1128 + 14
    chols = [np.array([[ref["sd"][g.factor]]]) for g in order_groups(design.groups)]
    value, beta = reml_loglik(blocks, resp, ref["sigma"], chols)
    assert -2.0 * value == pytest.approx(ref["reml_criterion"], rel=1e-8)
    np.testing.assert_allclose(beta, list(ref["fixed"].values()), rtol=1e-6)


def test_lme4_estimates_are_the_maximum_of_our_reml(insteval):
    """Moving any SD by 2% away from lme4's estimate lowers hierlmm's REML likelihood."""
    ref, design, blocks, resp = insteval
    groups = order_groups(design.groups)
    base = {g.factor: ref["sd"][g.factor] for g in groups}
    best = reml_loglik(blocks, resp, ref["sigma"],
                       [np.array([[base[g.factor]]]) for g in groups])[0]
    for g in groups:
        for factor in (0.98, 1.02):
            sds = {**base, g.factor: base[g.factor] * factor}
            value = reml_loglik(blocks, resp, ref["sigma"],
                                [np.array([[sds[h.factor]]]) for h in groups])[0]
            assert value < best, (g.factor, factor)
