"""Model specifications: frozen records, the lme4 formula front end, TOML model files."""

from hierlmm.spec.formula import check_spec_terms, parse_formula
from hierlmm.spec.load import FitOptions, ModelFile, load_model_file, resolve_data_source
from hierlmm.spec.schema import (
    INTERCEPT,
    GroupSpec,
    ModelSpec,
    PriorSpec,
    ResidualSpec,
    with_residual,
)

__all__ = [
    "INTERCEPT",
    "FitOptions",
    "GroupSpec",
    "ModelFile",
    "ModelSpec",
    "PriorSpec",
    "ResidualSpec",
    "check_spec_terms",
    "load_model_file",
    "parse_formula",
    "resolve_data_source",
    "with_residual",
]
