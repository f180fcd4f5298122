"""hierlmm: Bayesian linear mixed-effects models."""
