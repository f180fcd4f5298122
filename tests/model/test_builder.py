"""Structural tests of ``build_model``: names, dims, coords, log-density values, memory.

No sampling here. For each of five random-effect structures and each engine the model's
free variables, deterministics, dims and coords are exactly the documented ones
(:mod:`hierlmm.model.names`), the log-density and its gradient are finite at the initial
point, and the data term of the log-density equals an independent numpy/scipy
computation (row-wise normal for the sampled engine, the dense marginal multivariate
normal for the collapsed engine). A model with 20,000 levels holds no array of size
n * levels.
"""

from __future__ import annotations

import functools
import tracemalloc
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytensor.tensor as pt
import pytest
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant
from pytensor.graph.traversal import ancestors
from scipy import stats

import hierlmm
from hierlmm.design import build_design
from hierlmm.errors import SpecError
from hierlmm.model import names
from hierlmm.model.builder import BuiltModel, build_model
from hierlmm.spec import ResidualSpec, parse_formula

ENGINES = ("sampled", "collapsed")


@dataclass(frozen=True)
class Factor:
    """Expected structure of one grouping factor."""

    name: str
    terms: tuple[str, ...]
    correlated: bool
    columns: tuple[str, ...]

    @property
    def has_chol(self) -> bool:
        return self.correlated and len(self.terms) > 1


@dataclass(frozen=True)
class Case:
    formula: str
    fixed: tuple[str, ...]
    factors: tuple[Factor, ...]
    collapsed: str  # the factor with most levels * q, which the collapsed engine integrates


def _ri_data() -> pd.DataFrame:
    return hierlmm.datasets.simulate_random_intercepts(n_groups=12, n_per_group=5, seed=11).data


def _nested_data() -> pd.DataFrame:
    sim = hierlmm.datasets.simulate_nested(
        n_schools=6, classes_per_school=3, students_per_class=4, seed=12
    )
    return sim.data


def _crossed_data() -> pd.DataFrame:
    return hierlmm.datasets.simulate_crossed(n_subjects=8, n_items=5, seed=13).data


CASES = {
    "sleepstudy": Case(
        "Reaction ~ Days + (Days | Subject)", ("Intercept", "Days"),
        (Factor("Subject", ("Intercept", "Days"), True, ("Subject",)),), "Subject",
    ),
    "intercept": Case(
        "y ~ x + (1 | g)", ("Intercept", "x"), (Factor("g", ("Intercept",), True, ("g",)),), "g"
    ),
    "independent": Case(
        "y ~ x + (x || g)", ("Intercept", "x"),
        (Factor("g", ("Intercept", "x"), False, ("g",)),), "g",
    ),
    "nested": Case(
        "score ~ x + (1 | school/class)", ("Intercept", "x"),
        (
            Factor("school", ("Intercept",), True, ("school",)),
            Factor("school:class", ("Intercept",), True, ("school", "class")),
        ),
        "school:class",
    ),
    "crossed": Case(
        "y ~ x + (1 | subject) + (1 | item)", ("Intercept", "x"),
        (
            Factor("subject", ("Intercept",), True, ("subject",)),
            Factor("item", ("Intercept",), True, ("item",)),
        ),
        "subject",
    ),
}


@functools.cache
def _data(case_id: str) -> pd.DataFrame:
    if case_id == "sleepstudy":
        return hierlmm.datasets.load("sleepstudy")
    if case_id == "nested":
        return _nested_data()
    if case_id == "crossed":
        return _crossed_data()
    return _ri_data()


@functools.cache
def _built(case_id: str, engine: str) -> tuple[BuiltModel, hierlmm.design.Design]:
    spec = parse_formula(CASES[case_id].formula)
    design = build_design(spec, _data(case_id))
    return build_model(design=design, spec=spec, engine=engine), design


@functools.cache
def _compiled(case_id: str, engine: str):
    model = _built(case_id, engine)[0].model
    return model.compile_logp(), model.compile_dlogp()


def _sampled_factors(case: Case, engine: str) -> tuple[Factor, ...]:
    return tuple(f for f in case.factors if engine == "sampled" or f.name != case.collapsed)


def _expected_levels(data: pd.DataFrame, columns: tuple[str, ...]) -> list[str]:
    labels = data[list(columns)].astype(str).agg(":".join, axis=1)
    return sorted(set(labels))


def _perturbed_point(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: v + rng.normal(0.0, 0.3, size=np.shape(v)) for k, v in model.initial_point().items()}


PARAMS = [pytest.param(c, e, id=f"{c}-{e}") for c in CASES for e in ENGINES]


@pytest.mark.parametrize(("case_id", "engine"), PARAMS)
def test_free_variables_deterministics_and_dims(case_id: str, engine: str) -> None:
    case = CASES[case_id]
    built, _ = _built(case_id, engine)
    model = built.model
    sampled = _sampled_factors(case, engine)
    free = {names.BETA_CENTERED, names.SIGMA}
    free |= {names.sd(f.name) for f in case.factors}
    free |= {names.chol(f.name) for f in case.factors if f.has_chol}  # LKJCorr factor
    free |= {names.offsets(f.name) for f in sampled}
    assert sorted(v.name for v in model.free_RVs) == sorted(free)
    det = {names.BETA} | {names.effects(f.name) for f in sampled}
    det |= {names.corr(f.name) for f in case.factors if f.has_chol}
    assert sorted(v.name for v in model.deterministics) == sorted(det)

    dims = {names.BETA_CENTERED: (names.FIXED_DIM,), names.BETA: (names.FIXED_DIM,)}
    for f in case.factors:
        dims[names.sd(f.name)] = (names.term_dim(f.name),)
        if f.has_chol:
            dims[names.corr(f.name)] = (names.term_dim(f.name), names.term_dim_bis(f.name))
    for f in sampled:
        dims[names.offsets(f.name)] = (names.level_dim(f.name), names.term_dim(f.name))
        dims[names.effects(f.name)] = (names.level_dim(f.name), names.term_dim(f.name))
    assert dict(model.named_vars_to_dims) == dims


@pytest.mark.parametrize(("case_id", "engine"), PARAMS)
def test_coords_hold_level_labels_and_terms(case_id: str, engine: str) -> None:
    case = CASES[case_id]
    model = _built(case_id, engine)[0].model
    expected = {names.FIXED_DIM: case.fixed}
    for f in case.factors:
        expected[names.level_dim(f.name)] = tuple(_expected_levels(_data(case_id), f.columns))
        expected[names.term_dim(f.name)] = f.terms
        expected[names.term_dim_bis(f.name)] = f.terms
    assert {k: tuple(v) for k, v in model.coords.items()} == expected


def test_coords_of_nested_and_sleepstudy_levels() -> None:
    nested = _built("nested", "sampled")[0].model.coords
    assert tuple(nested["school_level"]) == tuple(f"sch{s}" for s in range(1, 7))
    assert tuple(nested["school:class_level"])[:4] == ("sch1:c1", "sch1:c2", "sch1:c3", "sch2:c1")
    assert len(nested["school:class_level"]) == 18
    subjects = _built("sleepstudy", "sampled")[0].model.coords["Subject_level"]
    assert tuple(subjects)[:3] == ("308", "309", "310") and len(subjects) == 18


@pytest.mark.parametrize(("case_id", "engine"), PARAMS)
def test_engine_observed_and_collapsed_factor(case_id: str, engine: str) -> None:
    built, _ = _built(case_id, engine)
    assert built.engine == engine
    if engine == "sampled":
        assert built.collapsed_factor is None
        assert [v.name for v in built.model.observed_RVs] == [names.RESPONSE]
        assert built.model.potentials == []
    else:
        assert built.collapsed_factor == CASES[case_id].collapsed
        assert built.model.observed_RVs == []
        assert [v.name for v in built.model.potentials] == [names.COLLAPSED_LOGLIK]


@pytest.mark.parametrize(("case_id", "engine"), PARAMS)
def test_logp_and_gradient_finite_at_initial_point(case_id: str, engine: str) -> None:
    model = _built(case_id, engine)[0].model
    logp, dlogp = _compiled(case_id, engine)
    point = model.initial_point()
    n_values = sum(np.size(v) for v in point.values())
    value = logp(point)
    grad = dlogp(point)
    assert np.ndim(value) == 0 and np.isfinite(value)
    assert grad.shape == (n_values,) and np.all(np.isfinite(grad))
    assert np.any(grad != 0)


def _point_fn(model, outs: list):
    """Compile ``outs`` (graphs of random variables or values) as a function of a point."""
    outs = model.replace_rvs_by_values(outs)
    return model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")


def _evaluate(model, point, variables: list[str]) -> dict[str, np.ndarray]:
    fn = _point_fn(model, [model[v] for v in variables])
    return dict(zip(variables, fn(point), strict=True))


def _group_cov(values: dict[str, np.ndarray], factor: str) -> np.ndarray:
    sd = values[names.sd(factor)]
    corr = values.get(names.corr(factor), np.eye(sd.size))
    return sd[:, None] * corr * sd[None, :]  # (q, q)


def _reference_data_logp(case: Case, engine: str, design, model, point) -> float:
    """Row-wise normal (sampled) or dense marginal MVN (collapsed) log-likelihood."""
    sampled = _sampled_factors(case, engine)
    wanted = [names.BETA, names.SIGMA] + [names.sd(f.name) for f in case.factors]
    wanted += [names.corr(f.name) for f in case.factors if f.has_chol]
    wanted += [names.effects(f.name) for f in sampled]
    values = _evaluate(model, point, wanted)
    mu = design.X @ values[names.BETA]  # (n, p) @ (p,)
    for f in sampled:
        g = design.group(f.name)
        mu = mu + (g.Z * values[names.effects(f.name)][g.codes]).sum(axis=1)
    sigma = float(values[names.SIGMA])
    if engine == "sampled":
        return float(stats.norm.logpdf(design.y, mu, sigma).sum())
    g = design.group(case.collapsed)
    dense = np.zeros((design.n, g.n_levels * g.q))  # test reference only: tiny n
    for k in range(g.q):
        dense[np.arange(design.n), g.codes * g.q + k] = g.Z[:, k]
    cov_b = np.kron(np.eye(g.n_levels), _group_cov(values, case.collapsed))
    cov_y = sigma**2 * np.eye(design.n) + dense @ cov_b @ dense.T
    return float(stats.multivariate_normal(mean=mu, cov=cov_y).logpdf(design.y))


@pytest.mark.parametrize(("case_id", "engine"), PARAMS)
def test_data_term_matches_independent_computation(case_id: str, engine: str) -> None:
    built, design = _built(case_id, engine)
    model = built.model
    logp, _ = _compiled(case_id, engine)
    prior = _point_fn(model, [model.logp(vars=model.free_RVs)])
    for seed in (0, 1):
        point = _perturbed_point(model, seed) if seed else model.initial_point()
        data_term = float(logp(point)) - float(prior(point)[0])
        expected = _reference_data_logp(CASES[case_id], engine, design, model, point)
        np.testing.assert_allclose(data_term, expected, rtol=1e-8)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case_id", ["intercept", "independent"])
def test_prior_term_matches_documented_priors(case_id: str, engine: str) -> None:
    """Default priors of hierlmm/model/priors.py with the change-of-variable terms."""
    case = CASES[case_id]
    built, design = _built(case_id, engine)
    model = built.model
    point = _perturbed_point(model, 2)
    f = case.factors[0]
    values = _evaluate(model, point, [names.BETA_CENTERED, names.SIGMA, names.sd(f.name)])
    y_sd = design.y.std(ddof=1)
    x_sd = design.X[:, 1].std(ddof=1)
    expected = stats.norm.logpdf(
        values[names.BETA_CENTERED], [design.y.mean(), 0.0], [2.5 * y_sd, 2.5 * y_sd / x_sd]
    ).sum()
    sd = values[names.sd(f.name)]
    z_sd = np.array([1.0 if t == "Intercept" else design.group(f.name).Z[:, k].std(ddof=1)
                     for k, t in enumerate(f.terms)])
    expected += (stats.halfnorm.logpdf(sd, scale=2.5 * y_sd / z_sd) + np.log(sd)).sum()
    sigma = float(values[names.SIGMA])
    expected += stats.expon.logpdf(sigma, scale=y_sd) + np.log(sigma)
    if engine == "sampled":
        expected += stats.norm.logpdf(point[names.offsets(f.name)]).sum()
    prior = _point_fn(model, [model.logp(vars=model.free_RVs)])
    np.testing.assert_allclose(float(prior(point)[0]), expected, rtol=1e-10)


def test_auto_engine_is_collapsed_for_gaussian(sleepstudy: pd.DataFrame) -> None:
    spec = parse_formula(CASES["sleepstudy"].formula)
    built = build_model(design=build_design(spec, sleepstudy), spec=spec)
    assert built.engine == "collapsed"
    assert built.collapsed_factor == "Subject"


def test_builder_rejects_unimplemented_options(sleepstudy: pd.DataFrame) -> None:
    spec = parse_formula(CASES["sleepstudy"].formula)
    design = build_design(spec, sleepstudy)
    with pytest.raises(SpecError, match='engine="collapsed" needs a gaussian model'):
        build_model(design=design, spec=replace(spec, family="poisson"), engine="collapsed")
    ar1 = replace(spec, residual=ResidualSpec("ar1", "Days"), family="student_t")
    with pytest.raises(SpecError, match='residual kind "ar1" needs family="gaussian"'):
        build_model(design=build_design(ar1, sleepstudy), spec=ar1)
    fixed_only = parse_formula("Reaction ~ Days")
    with pytest.raises(SpecError, match='engine="collapsed"'):
        build_model(design=build_design(fixed_only, sleepstudy), spec=fixed_only,
                    engine="collapsed")


# -- no dense n x (levels * q) matrix ------------------------------------------------------
N_LEVELS, PER_LEVEL = 20_000, 2


@functools.cache
def _large_data() -> pd.DataFrame:
    return hierlmm.datasets.simulate_large(N_LEVELS, PER_LEVEL, seed=5).data


def _graph_arrays(model) -> dict[str, tuple[int, ...]]:
    """Shapes of every shared variable and constant the model's graphs read."""
    outputs = [model.logp(), *model.deterministics]
    shapes: dict[str, tuple[int, ...]] = {}
    for k, var in enumerate(ancestors(outputs)):
        if isinstance(var, SharedVariable):
            shapes[f"shared:{var.name}:{k}"] = np.shape(var.get_value(borrow=True))
        elif isinstance(var, Constant) and isinstance(var.type, pt.TensorType):
            shapes[f"constant:{var.name}:{k}"] = np.shape(var.data)
    for var in model.data_vars:
        shapes[f"data:{var.name}"] = np.shape(var.get_value(borrow=True))
    return shapes


@pytest.mark.parametrize("engine", ENGINES)
def test_no_dense_random_effects_matrix_with_20000_levels(engine: str) -> None:
    data = _large_data()
    n, q, p = N_LEVELS * PER_LEVEL, 2, 2
    spec = parse_formula("y ~ x + (x | g)")
    tracemalloc.start()
    try:
        design = build_design(spec, data)
        built = build_model(design=design, spec=spec, engine=engine)
        _, build_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    model = built.model
    dense = n * N_LEVELS
    bound = max(n, N_LEVELS) * (max(p, q) + 1) ** 2  # O(n q^2): 360,000 vs dense 8e8 * q
    shapes = _graph_arrays(model) | {
        f"value:{k}": np.shape(v) for k, v in model.initial_point().items()
    }
    assert any(name.startswith("data:") for name in shapes)
    for name, shape in shapes.items():
        assert dense not in shape and dense * q not in shape, (name, shape)
        assert int(np.prod(shape)) <= bound, (name, shape)
    assert build_peak < 150e6, f"design + model building peaked at {build_peak / 1e6:.0f} MB"

    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    point = model.initial_point()
    tracemalloc.start()
    try:
        value, grad = logp(point), dlogp(point)
        _, eval_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert eval_peak < 100e6, f"logp + gradient peaked at {eval_peak / 1e6:.0f} MB"
