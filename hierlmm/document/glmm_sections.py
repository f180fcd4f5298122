"""report.html sections of GLMMs: population-average against subject-specific effects,
and checks fitted to the family (PPC statistics, calibration plot, rootogram).

:func:`glmm_sections` gives them for a model with a non-identity link (report.html adds
them after :data:`hierlmm.document.figures.SECTIONS`); for identity links the builders
raise :class:`~hierlmm.document.figures.NotApplicable`.
"""

from __future__ import annotations

import numpy as np

from hierlmm.design.validate import is_numeric
from hierlmm.document.figures import (
    Block,
    NotApplicable,
    Plot,
    SectionSpec,
    Table,
    Text,
)
from hierlmm.inference.marginal import marginal_coefficients, marginal_effects
from hierlmm.plots.family_checks import plot_calibration, plot_rootogram
from hierlmm.report.family_checks import calibration_table, ppc_family_stats, rootogram_table

MARGINAL_DRAWS = 400


def _check_glmm(fit) -> None:
    if fit.spec.link_name == "identity":
        raise NotApplicable(
            "identity link: population-average and subject-specific effects coincide"
        )


def _contrast(fit) -> dict | None:
    """The first numeric fixed-effect column: (0, 1) if binary, else (mean, mean + SD)."""
    data = fit.design.data
    for term in fit.spec.fixed:
        if term in data.columns and is_numeric(data[term]):
            values = data[term].to_numpy(dtype=float)
            if set(np.unique(values)) <= {0.0, 1.0}:
                return {term: (0, 1)}
            return {term: (float(values.mean()), float(values.mean() + values.std(ddof=1)))}
    return None


def marginal_blocks(fit, prob: float) -> list[Block]:
    """Contrast table (PA against SS, attenuation) and the marginal coefficients."""
    _check_glmm(fit)
    blocks: list[Block] = []
    contrast = _contrast(fit)
    if contrast is not None:
        (column, values), = contrast.items()
        table = marginal_effects(fit, contrast=contrast, prob=prob, max_draws=MARGINAL_DRAWS)
        shown = table[["quantity", "effect", "estimate", "lower", "upper"]]
        blocks.append(Table(f"{column} = {values[1]:g} against {values[0]:g}, other "
                            "covariates at their mean / most frequent value", shown))
    coefs = marginal_coefficients(fit, prob=prob, max_draws=MARGINAL_DRAWS).reset_index()
    blocks.append(Table("Link-scale coefficients: subject-specific (conditional) and "
                        "population-average (marginal, GLMMadaptive's marginal_coefs)",
                        coefs))
    return blocks


def family_check_blocks(fit, prob: float) -> list[Block]:
    """PPC statistics; calibration (binary outcomes) or hanging rootogram (counts)."""
    _check_glmm(fit)
    total = fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]
    n_draws = min(200, total)
    blocks: list[Block] = [Table("Posterior predictive statistics",
                                 ppc_family_stats(fit, n_draws=n_draws, prob=prob))]
    if fit.spec.family in ("bernoulli", "binomial"):
        table = calibration_table(fit, n_draws=n_draws, prob=prob)
        blocks.append(Plot("calibration", "Observed proportion against predicted "
                           "probability in bins of equal size.", plot_calibration(table)))
    else:
        table = rootogram_table(fit, n_draws=n_draws)
        blocks.append(Plot("rootogram", "Hanging rootogram: observed frequencies hang from "
                           "the expected ones; bars ending off zero show misfit.",
                           plot_rootogram(table)))
        blocks.append(Text("Overdispersion shows as an observed var/mean above its "
                           "predictive interval, excess zeros as a zero bar ending below 0."))
    return blocks


GLMM_SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec(
        "population-average", "Population-average against subject-specific effects",
        "A GLMM's coefficients are subject-specific: the effect for one subject with its "
        "random effects held fixed. The population-average effect integrates over the "
        "random-effect distribution (a new subject draws new levels of every factor); on "
        "the logit scale it is smaller in magnitude. The attenuation factor is the ratio "
        "of the two log odds (rate) ratios.",
        marginal_blocks),
    SectionSpec(
        "family-checks", "Checks for the response family",
        "Statistics the family must reproduce: the proportion of zeros and the dispersion "
        "for counts, the proportion of successes and calibration for binary outcomes.",
        family_check_blocks),
)



def glmm_sections(fit) -> tuple[SectionSpec, ...]:
    """:data:`GLMM_SECTIONS` for a model with a non-identity link, else none."""
    return GLMM_SECTIONS if fit.spec.link_name != "identity" else ()
