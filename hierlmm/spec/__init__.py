"""Model specifications: frozen records, the lme4 formula front end, TOML model files."""

from hierlmm.spec.schema import INTERCEPT, GroupSpec, ModelSpec, PriorSpec, ResidualSpec

__all__ = ["INTERCEPT", "GroupSpec", "ModelSpec", "PriorSpec", "ResidualSpec"]
