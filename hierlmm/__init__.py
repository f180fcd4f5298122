"""hierlmm: Bayesian linear mixed-effects models.

>>> import hierlmm
>>> fit = hierlmm.fit("Reaction ~ Days + (Days | Subject)",
...                   hierlmm.datasets.load("sleepstudy"), seed=1)  # doctest: +SKIP
>>> fit.summary()  # doctest: +SKIP
>>> hierlmm.write_report(fit, "out/")  # doctest: +SKIP

Importing hierlmm configures nothing: PyTensor is set up where hierlmm first compiles a
model (see :mod:`hierlmm._pytensor_setup`).
"""

import importlib

from hierlmm import datasets, report
from hierlmm._version import __version__ as __version__
from hierlmm.errors import (
    ConvergenceWarning,
    DataError,
    FitError,
    HierlmmError,
    SpecError,
)
from hierlmm.inference.fit import fit
from hierlmm.inference.io import load_fit as load
from hierlmm.inference.marginal import marginal_coefficients, marginal_effects
from hierlmm.inference.predict import predict
from hierlmm.inference.result import Fit
from hierlmm.many import ManyFits, fit_many
from hierlmm.report.checks import compare
from hierlmm.spec import (
    GroupSpec,
    ModelSpec,
    PriorSpec,
    ResidualSpec,
    load_model_file,
    parse_formula,
)

__all__ = [
    "ConvergenceWarning",
    "DataError",
    "Fit",
    "ManyFits",
    "FitError",
    "GroupSpec",
    "HierlmmError",
    "ModelSpec",
    "PriorSpec",
    "ResidualSpec",
    "SpecError",
    "compare",
    "datasets",
    "fit",
    "fit_many",
    "load",
    "load_model_file",
    "marginal_coefficients",
    "marginal_effects",
    "parse_formula",
    "plots",
    "predict",
    "report",
    "write_report",
]

# imported on first use so that ``import hierlmm`` loads no matplotlib:
# attribute name -> the module holding it, and subpackages reachable as attributes
_LAZY = {"write_report": "hierlmm.document"}
_LAZY_MODULES = {"plots": "hierlmm.plots"}


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        value = importlib.import_module(_LAZY_MODULES[name])
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
