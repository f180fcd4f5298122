"""The formula front end and hand-built specs give the same ModelSpec and the same model.

For every random-effect syntax, ``parse_formula(formula)`` equals the ModelSpec written
with :class:`GroupSpec` objects, and ``build_model`` on the two gives identical models:
the same free variables, deterministics, dims, coords and initial point, the same
log-density graph (so the same gradient), and exactly the same log-density at the initial
point and at a random point.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytensor
import pytest
from pytensor.compile.mode import Mode
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable, equal_computations
from pytensor.graph.traversal import graph_inputs
from pytensor.tensor.variable import TensorVariable

from hierlmm.design import build_design
from hierlmm.model.builder import build_model
from hierlmm.spec import GroupSpec, ModelSpec, parse_formula

ENGINES = ("sampled", "collapsed")

SYNTAXES: dict[str, tuple[str, ModelSpec]] = {
    "intercept": ("y ~ x + (1 | g)", ModelSpec("y", ("x",), groups=(GroupSpec("g"),))),
    "slope": ("y ~ x + (x | g)", ModelSpec("y", ("x",), groups=(GroupSpec("g", slopes=("x",)),))),
    "two-slopes": (
        "y ~ x + z + (1 + x + z | g)",
        ModelSpec("y", ("x", "z"), groups=(GroupSpec("g", slopes=("x", "z")),)),
    ),
    "no-intercept": (
        "y ~ x + (0 + x | g)",
        ModelSpec("y", ("x",), groups=(GroupSpec("g", intercept=False, slopes=("x",)),)),
    ),
    "independent": (
        "y ~ x + (x || g)",
        ModelSpec("y", ("x",), groups=(GroupSpec("g", slopes=("x",), correlated=False),)),
    ),
    "nested": (
        "y ~ x + (1 | school/class)",
        ModelSpec("y", ("x",), groups=GroupSpec.nested("school", "class")),
    ),
    "interaction": ("y ~ x + (1 | a:b)", ModelSpec("y", ("x",), groups=(GroupSpec("a:b"),))),
    "crossed": (
        "y ~ x + (1 | subject) + (1 | item)",
        ModelSpec("y", ("x",), groups=(GroupSpec("subject"), GroupSpec("item"))),
    ),
    "several": (
        "y ~ x + z + (x | subject) + (1 | item) + (0 + z || school)",
        ModelSpec(
            "y",
            ("x", "z"),
            groups=(
                GroupSpec("subject", slopes=("x",)),
                GroupSpec("item"),
                GroupSpec("school", intercept=False, slopes=("z",), correlated=False),
            ),
        ),
    ),
}


@functools.cache
def _data() -> pd.DataFrame:
    """96 rows holding every column the syntaxes use; seeded."""
    rng = np.random.default_rng(20240607)
    n = 96
    rows = np.arange(n)
    frame = pd.DataFrame({
        "x": rng.normal(size=n),
        "z": rng.normal(size=n),
        "g": np.array([f"g{k}" for k in range(8)])[rows % 8],
        "school": np.array(["s1", "s2", "s3", "s4"])[rows // 24],
        "class": np.array(["c1", "c2", "c3"])[(rows // 8) % 3],
        "a": np.array(["a1", "a2", "a3"])[rows % 3],
        "b": np.array(["b1", "b2", "b3", "b4"])[(rows // 3) % 4],
        "subject": np.array([f"s{k}" for k in range(12)])[rows // 8],
        "item": np.array([f"i{k}" for k in range(8)])[rows % 8],
    })
    frame["y"] = 1.0 + 0.5 * frame["x"] - 0.3 * frame["z"] + rng.normal(size=n)
    return frame


@functools.cache
def _model(syntax: str, engine: str, front: str):
    formula, hand = SYNTAXES[syntax]
    spec = parse_formula(formula) if front == "formula" else hand
    return build_model(design=build_design(spec, _data()), spec=spec, engine=engine).model


def _logp_graph(model) -> tuple[TensorVariable, list[Variable]]:
    """The model's log-density graph in its value variables, and that graph's inputs
    other than constants (which :func:`equal_computations` compares by value)."""
    logp = model.replace_rvs_by_values([model.logp()])[0]
    return logp, [v for v in graph_inputs([logp]) if not isinstance(v, Constant)]


def _assert_same_logp(first, second, points: list[dict[str, np.ndarray]]) -> None:
    """The two log-density graphs are the same computation of inputs paired by name
    (value variables; data containers holding equal arrays), and give the same value at
    ``points``. Same graph, so the same gradient: PyTensor derives it from the graph."""
    logp_a, inputs_a = _logp_graph(first)
    logp_b, inputs_b = _logp_graph(second)
    named_a = {v.name: v for v in inputs_a if v.name}
    named_b = {v.name: v for v in inputs_b if v.name}
    assert named_a.keys() == named_b.keys() and len(named_a) == len(inputs_a)
    names = sorted(named_a)
    for name in names:
        if isinstance(named_a[name], SharedVariable):
            np.testing.assert_array_equal(named_a[name].get_value(), named_b[name].get_value())
    assert equal_computations([logp_a], [logp_b], in_xs=[named_a[n] for n in names],
                              in_ys=[named_b[n] for n in names])
    values = []
    for model, logp in ((first, logp_a), (second, logp_b)):  # no rewrites: the graph as built
        fn = pytensor.function(model.value_vars, logp, on_unused_input="ignore",
                               mode=Mode(linker="py", optimizer=None))
        values.append([fn(*(point[v.name] for v in model.value_vars)) for point in points])
    assert np.all(np.isfinite(values[0])) and values[0] == values[1]


@pytest.mark.parametrize("syntax", list(SYNTAXES))
def test_formula_equals_hand_built_spec(syntax: str) -> None:
    formula, hand = SYNTAXES[syntax]
    assert parse_formula(formula) == hand
    assert parse_formula(hand.formula) == hand


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("syntax", list(SYNTAXES))
def test_formula_and_spec_build_identical_models(syntax: str, engine: str) -> None:
    from_formula = _model(syntax, engine, "formula")
    from_spec = _model(syntax, engine, "spec")
    assert [v.name for v in from_formula.free_RVs] == [v.name for v in from_spec.free_RVs]
    assert [v.name for v in from_formula.value_vars] == [v.name for v in from_spec.value_vars]
    assert [v.name for v in from_formula.deterministics] == [
        v.name for v in from_spec.deterministics
    ]
    assert dict(from_formula.named_vars_to_dims) == dict(from_spec.named_vars_to_dims)
    assert {k: tuple(v) for k, v in from_formula.coords.items()} == {
        k: tuple(v) for k, v in from_spec.coords.items()
    }
    start = from_formula.initial_point()
    other = from_spec.initial_point()
    assert start.keys() == other.keys()
    for key in start:
        np.testing.assert_array_equal(start[key], other[key])
    rng = np.random.default_rng(7)
    random_point = {k: v + rng.normal(0.0, 0.5, size=np.shape(v)) for k, v in start.items()}
    _assert_same_logp(from_formula, from_spec, [start, random_point])
