"""Design stage: validate data against a spec and encode it compactly (O(n * q) memory)."""

from hierlmm.design.design import Design, GroupDesign
from hierlmm.design.encode import build_design

__all__ = ["Design", "GroupDesign", "build_design"]
