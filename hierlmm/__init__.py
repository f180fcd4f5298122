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
from hierlmm.errors import (
    ConvergenceWarning,
    DataError,
    FitError,
    HierlmmError,
    SpecError,
)
from hierlmm.inference.fit import fit
from hierlmm.inference.io import load_fit as load
from hierlmm.inference.predict import predict
from hierlmm.inference.result import Fit
from hierlmm.report.checks import compare
from hierlmm.spec import (
    GroupSpec,
    ModelSpec,
    PriorSpec,
    ResidualSpec,
    load_model_file,
    parse_formula,
)

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "DataError",
    "Fit",
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
    "load",
    "load_model_file",
    "parse_formula",
    "predict",
    "report",
    "write_report",
]

# name -> module; imported on first use so that ``import hierlmm`` loads no matplotlib
_LAZY = {"write_report": "hierlmm.document"}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
