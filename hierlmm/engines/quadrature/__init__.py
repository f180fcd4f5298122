"""Quadrature engine: a GLMM's random effects integrated out by adaptive Gauss-Hermite."""

from hierlmm.engines.quadrature.engine import QuadratureEngine

__all__ = ["QuadratureEngine"]
