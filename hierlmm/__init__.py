"""hierlmm: Bayesian linear mixed-effects models.

>>> import hierlmm
>>> fit = hierlmm.fit("Reaction ~ Days + (Days | Subject)",
...                   hierlmm.datasets.load("sleepstudy"), seed=1)  # doctest: +SKIP
>>> fit.summary()  # doctest: +SKIP
"""

from hierlmm._pytensor_setup import configure as _configure

_configure()

from hierlmm import datasets, report  # noqa: E402
from hierlmm.errors import (  # noqa: E402
    ConvergenceWarning,
    DataError,
    FitError,
    HierlmmError,
    SpecError,
)
from hierlmm.inference.fit import fit  # noqa: E402
from hierlmm.inference.io import load_fit as load  # noqa: E402
from hierlmm.inference.predict import predict  # noqa: E402
from hierlmm.inference.result import Fit  # noqa: E402
from hierlmm.report.checks import compare  # noqa: E402
from hierlmm.spec import (  # noqa: E402
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
]
