"""Design stage: validate data against a spec and encode it compactly (O(n * q) memory)."""

from hierlmm.design.design import Design, GroupDesign
from hierlmm.design.encode import build_design
from hierlmm.design.residual import ResidualDesign

__all__ = ["Design", "GroupDesign", "ResidualDesign", "build_design"]
