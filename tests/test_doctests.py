"""The Examples sections of the public API run as doctests (a tiny fit, a few seconds).

Each module's docstrings see a global ``fit``: sleepstudy, ``Reaction ~ Days + (Days |
Subject)``, one chain of 50 draws (examples show shapes and names, not estimates).
"""

from __future__ import annotations

import doctest
import importlib

import pytest

import hierlmm

MODULES = [
    "hierlmm.inference.fit",
    "hierlmm.inference.io",
    "hierlmm.inference.predict",
    "hierlmm.inference.predictions",
    "hierlmm.inference.accessors",
    "hierlmm.inference.result",
    "hierlmm.inference.summary",
    "hierlmm.inference.summary_text",
    "hierlmm.plots.labels",
    "hierlmm.report.variance",
    "hierlmm.spec.transforms",
    "hierlmm.spec.units",
    "hierlmm.inference.compile_notice",
    "hierlmm.inference.marginal",
    "hierlmm.model.marginal_integrals",
    "hierlmm.report.glmm_variance",
    "hierlmm.spec.glm_terms",
    "hierlmm.families",
]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.fixture(scope="module")
def tiny_fit(sleepstudy) -> hierlmm.Fit:
    return hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, draws=50, tune=50,
                       chains=1, seed=1, progress=False, warn_convergence=False)


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name: str, tiny_fit) -> None:
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    globs = {**vars(module), "fit": tiny_fit}  # the module's own names, as --doctest-modules
    tests = doctest.DocTestFinder().find(module, name, globs=globs)
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0, f"{name} has no examples"
    assert results.failed == 0
