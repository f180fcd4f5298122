"""The collapsed engine: Gaussian random effects of the largest factor integrated out."""

from hierlmm.engines.collapsed.engine import CollapsedEngine

__all__ = ["CollapsedEngine"]
