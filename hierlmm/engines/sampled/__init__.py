"""The sampled engine: every random effect is a (non-centred) model parameter."""

from hierlmm.engines.sampled.engine import SampledEngine

__all__ = ["SampledEngine"]
