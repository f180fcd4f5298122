"""Content of each section of ``report.html``: tables, figures and notes from a Fit.

Every section is one builder ``builder(fit, prob) -> list[Block]`` listed in
:data:`SECTIONS` with its heading and a plain-language introduction. A builder raises
:class:`NotApplicable` when its section does not apply to the model (no correlated
effects, no random slope); :mod:`hierlmm.document.html` turns that, or any error, into a
short note in place of the section. Builders compute report tables and call the
pyplot-free figure functions of :mod:`hierlmm.plots`; they never render HTML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hierlmm.design.validate import is_numeric
from hierlmm.inference.diagnostics import ESS_MIN, RHAT_MAX, convergence_problems
from hierlmm.inference.display import groups_text, observations_text
from hierlmm.inference.joint import joint_posterior
from hierlmm.inference.summary import quantile_labels
from hierlmm.model.names import INTERCEPT
from hierlmm.plots.autocorrelation import plot_residual_acf
from hierlmm.plots.checks import plot_ppc_density, plot_ppc_groups
from hierlmm.plots.correlation import plot_correlations
from hierlmm.plots.frequentist import plot_frequentist
from hierlmm.plots.shrinkage import plot_shrinkage, plot_shrinkage_2d
from hierlmm.plots.trajectories import plot_trajectories
from hierlmm.plots.variance import plot_variance_components
from hierlmm.plots.variance_curve import plot_icc_curve, plot_variance_curve
from hierlmm.report.autocorrelation import residual_acf, residual_correlation
from hierlmm.report.checks import posterior_predictive, ppc_group_stats
from hierlmm.report.correlation import correlation_densities, random_correlations
from hierlmm.report.frequentist import frequentist_comparison
from hierlmm.report.shrinkage import population_distribution, shrinkage
from hierlmm.report.trajectories import observed_points, trajectories
from hierlmm.report.variance import icc, variance_components
from hierlmm.report.variance_curve import icc_curve, variance_over_covariate

MAX_TRAJECTORY_GROUPS = 9
MAX_SHRINKAGE_FACTORS = 3
TABLE_HEAD = 10
CURVE_ROWS = 6
PPC_DRAWS = 100
PPC_GROUP_DRAWS = 200


class NotApplicable(Exception):
    """The section does not apply to this model; the message says why."""


@dataclass(frozen=True)
class Table:
    """A table block: ``caption`` above ``frame`` (rendered without its index)."""

    caption: str
    frame: pd.DataFrame


@dataclass(frozen=True)
class Plot:
    """A figure block; ``name`` is the PNG file stem (unique within the report)."""

    name: str
    caption: str
    figure: Figure


@dataclass(frozen=True)
class Text:
    """A paragraph; ``kind`` is ``"plain"``, ``"caution"`` (a boxed remark), or ``"ok"`` or
    ``"warning"`` (a status badge)."""

    text: str
    kind: str = "plain"


@dataclass(frozen=True)
class KeyValue:
    """A two-column table of labels and values."""

    items: tuple[tuple[str, str], ...]


Block = Table | Plot | Text | KeyValue
Builder = Callable[..., list[Block]]


# ----------------------------------------------------------------------------- helpers
def numeric_slopes(fit) -> list[tuple[str, str]]:
    """``(factor, term)`` of every random slope on a numeric data column, in model order."""
    data = fit.design.data
    return [
        (g.factor, term)
        for g in fit.design.groups
        for term in g.terms
        if term != INTERCEPT and term in data.columns and is_numeric(data[term])
    ]


def _stat_columns(frame: pd.DataFrame, prob: float, prefix: str = "") -> list[str]:
    lo, hi = quantile_labels(prob)
    wanted = [f"{prefix}{c}" for c in ("mean", "median", "sd", lo, hi, "rhat", "ess_bulk")]
    return [c for c in wanted if c in frame.columns]


def _spread(n_items: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n_items)`` (all when ``n_items <= k``)."""
    return sorted({int(i) for i in np.linspace(0, n_items - 1, min(k, n_items)).round()})


def _head(frame: pd.DataFrame, n: int = TABLE_HEAD) -> tuple[pd.DataFrame, str]:
    shown = frame.head(n)
    more = f" (first {n} of {len(frame)} rows)" if len(frame) > n else ""
    return shown, more


def icc_quantities(icc_table: pd.DataFrame) -> tuple[str, ...]:
    """ICC rows to plot: ``("icc",)``, and ``"corr_same"`` too where a factor is nested.

    For a nested factor the share of variance at its level (``icc``) and the correlation
    of two observations sharing that level (``corr_same``, which adds the variance of the
    factors it is nested in) differ; both are shown, each under its own label.
    """
    if icc_table.empty:
        return ("icc",)
    wide = icc_table.pivot(index="factor", columns="quantity", values="mean")
    differs = not np.allclose(wide["icc"], wide["corr_same"], rtol=1e-9, atol=0.0)
    return ("icc", "corr_same") if differs else ("icc",)


# ---------------------------------------------------------------------------- sections
def model_blocks(fit, prob: float) -> list[Block]:
    """Formula, data size, factors, engine, sampler, seed, timings and diagnostics."""
    design, settings = fit.design, fit.settings
    sampling = ", ".join(f"{k} {settings[k]}" for k in ("chains", "draws", "thin",
                                                         "tune", "target_accept")
                         if k in settings)
    timings = ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in fit.timings.items())
    diag = fit.diagnostics()
    items = (
        ("Formula", fit.spec.formula), ("Family", fit.spec.family),
        ("Observations", observations_text(design)),
        ("Grouping factors", groups_text(design)),
        ("Engine", fit.engine), ("Sampler", f"{fit.sampler} ({sampling})"),
        ("Seed", str(fit.seed)), ("Timings", timings or "not recorded"),
        *((("Units", ", ".join(f"{c}: {u}" for c, u in fit.units.items())),)
          if fit.units else ()),
        _trajectory_row(fit, diag),
        ("Max R-hat", f"{diag['max_rhat']:.4f}"),
        ("Min bulk ESS", f"{diag['min_ess_bulk']:.0f} (of {diag['draws']} draws)"),
    )
    problems = convergence_problems(diag)
    independence = fit.sampler == "independence"
    if problems:
        remedy = ('Run more draws, or use sampler="nutpie",' if independence else
                  "Run more draws or tuning steps (or raise target_accept)")
        badge = Text("Convergence warning: " + "; ".join(problems) + f". {remedy} before "
                     "trusting the estimates.", "warning")
    else:
        first = "" if independence else "no divergent transitions, "
        badge = Text(f"Diagnostics OK: {first}R-hat <= {RHAT_MAX}, "
                     f"bulk ESS >= {ESS_MIN:.0f} for every summary parameter.", "ok")
    return [KeyValue(items), badge]


def _trajectory_row(fit, diag: dict) -> tuple[str, str]:
    """NUTS: the divergent transitions. The independence sampler has no trajectories (so
    no divergences): its acceptance rate instead."""
    if fit.sampler != "independence":
        return ("Divergent transitions", str(diag["divergences"]))
    rate = fit.idata["sample_stats"].attrs.get("acceptance_rate")
    text = "not recorded" if rate is None else f"{float(rate):.2f}"
    return ("Acceptance rate", f"{text} (independence sampler: no trajectories, hence no "
                               "divergences)")


def fixed_blocks(fit, prob: float) -> list[Block]:
    """The fixed-effect rows of the parameter summary."""
    table = fit.summary(prob=prob)
    rows = table[table["kind"] == "fixed"].reset_index()
    return [Table("Fixed effects (posterior summary)",
                  rows[["parameter", *_stat_columns(rows, prob)]])]


def variance_blocks(fit, prob: float) -> list[Block]:
    """Variance components and ICCs: two tables and a forest plot."""
    vc = variance_components(fit, prob)
    icc_table = icc(fit, prob)
    blocks: list[Block] = [Table("Variance components (variances, SDs and shares of the "
                                 "total at slope covariates = 0)",
                                 vc[["parameter", *_stat_columns(vc, prob)]])]
    blocks.extend(Text(f"Note: {note}.", "caution")
                  for note in sorted({str(n) for n in vc["note"] if n}))
    if icc_table.empty:
        blocks.append(Text("No factor has a random intercept, so no ICC is defined."))
    else:
        shown = icc_table[["parameter", "cluster_size", *_stat_columns(icc_table, prob),
                           "description"]]
        blocks.append(Table("Intraclass correlations and design effects", shown))
        notes = sorted({str(n) for n in icc_table["note"] if n} - set(vc["note"].dropna()))
        blocks.extend(Text(f"Note: {note}.") for note in notes)
    quantities = icc_quantities(icc_table)
    figure = plot_variance_components(vc, None if icc_table.empty else icc_table,
                                      icc_quantities=quantities,
                                      response=fit.design.response, units=fit.units)
    shown = "variance shares and within-level correlations" if len(quantities) > 1 \
        else "ICCs"
    blocks.append(Plot("variance_components", f"Posterior means and central {prob:.0%} "
                       f"intervals of the random-effect and residual SDs, and of the "
                       f"{shown}.", figure))
    return blocks


def correlation_blocks(fit, prob: float) -> list[Block]:
    """Correlations of correlated random effects: table, readings, density plot."""
    table = random_correlations(fit, prob)
    if table.empty:
        raise NotApplicable("no grouping factor has correlated random effects (a random "
                            "intercept and slope written with a single '|').")
    lo, hi = quantile_labels(prob)
    columns = ["parameter", "corr_mean", f"corr_{lo}", f"corr_{hi}", "p_positive",
               "cov_mean", "corr_rhat", "corr_ess_bulk"]
    blocks: list[Block] = [Table("Random-effect correlations", table[columns])]
    blocks.extend(Text(str(r)) for r in table["reading"])
    blocks.append(Plot("correlations", "Posterior density of each correlation; the shaded "
                       f"band is the central {prob:.0%} interval.",
                       plot_correlations(table, correlation_densities(fit))))
    return blocks


def variance_curve_blocks(fit, prob: float) -> list[Block]:
    """Var(y | t) and the conditional ICC over each numeric random-slope covariate."""
    slopes = numeric_slopes(fit)
    if not slopes:
        raise NotApplicable("the model has no random slope on a numeric covariate.")
    blocks: list[Block] = []
    for factor, term in slopes:
        table = variance_over_covariate(fit, factor, term, prob=prob)
        rows = table.iloc[_spread(len(table), CURVE_ROWS)].drop(columns=["factor", "term"])
        rows = rows.rename(columns={"t": term})
        blocks.append(Table(f"Variance of the response over {term} ({factor}); "
                            f"{len(rows)} of {len(table)} grid points", rows))
        blocks.append(Plot(f"variance_curve_{factor}_{term}",
                           f"Stacked posterior-mean components of Var({fit.design.response}"
                           f" | {term}) for {factor}, with the central {prob:.0%} interval "
                           "of the total.",
                           plot_variance_curve(table, response=fit.design.response,
                                               units=fit.units)))
        blocks.append(Plot(f"icc_curve_{factor}_{term}",
                           f"Share of the variance due to {factor} as {term} changes: "
                           f"posterior mean and central {prob:.0%} interval.",
                           plot_icc_curve(icc_curve(fit, factor, term=term, prob=prob),
                                          units=fit.units)))
    return blocks


def shrinkage_blocks(fit, prob: float) -> list[Block]:
    """Per factor: table head, one arrow plot per term, the 2-D plot for two terms."""
    if not fit.design.groups:
        raise NotApplicable("the model has no grouping factor.")
    blocks: list[Block] = []
    groups = fit.design.groups[:MAX_SHRINKAGE_FACTORS]
    if len(fit.design.groups) > len(groups):
        blocks.append(Text(f"Showing the first {len(groups)} of "
                           f"{len(fit.design.groups)} grouping factors."))
    lo_hi = ["partial_lower", "partial_upper"]
    for g in groups:
        table = shrinkage(fit, g.factor, prob)
        columns = ["level", "term", "n", "no_pool", "complete_pool", "partial", *lo_hi,
                   "shrinkage"]
        head, more = _head(table[columns])
        blocks.append(Table(f"Shrinkage of {g.factor} coefficients{more}", head))
        for term in g.terms:
            blocks.append(Plot(f"shrinkage_{g.factor}_{term}",
                               f"{term} of each {g.factor}: arrow from its own-data "
                               "estimate to its partial-pooling estimate.",
                               plot_shrinkage(table, term=term, response=fit.design.response,
                                              units=fit.units)))
        if g.q == 2:
            population = population_distribution(fit, g.factor)
            blocks.append(Plot(f"shrinkage_2d_{g.factor}",
                               f"Both coefficients of each {g.factor} at once, over the "
                               f"central {prob:.0%} region of the population distribution.",
                               plot_shrinkage_2d(table, population, prob,
                                                 response=fit.design.response,
                                                 units=fit.units)))
    return blocks


def trajectory_blocks(fit, prob: float) -> list[Block]:
    """Fitted curves of up to 9 groups of the first factor with a numeric slope."""
    slopes = numeric_slopes(fit)
    if not slopes:
        raise NotApplicable("the model has no random slope on a numeric covariate to draw "
                            "trajectories along.")
    factor, covariate = slopes[0]
    levels = fit.design.group(factor).levels
    chosen = [levels[i] for i in _spread(len(levels), MAX_TRAJECTORY_GROUPS)]
    table = trajectories(fit, covariate, groups=chosen, prob=prob, seed=fit.seed,
                         factor=factor)
    points = observed_points(fit, covariate, groups=chosen, factor=factor)
    shown = f"all {len(levels)}" if len(chosen) == len(levels) else \
        f"{len(chosen)} of {len(levels)} (evenly spread over the level order)"
    return [
        Text(f"Factor {factor} along {covariate}; groups shown: {shown}."),
        Plot(f"trajectories_{factor}_{covariate}",
             f"Fitted mean of each {factor} (line), its {prob:.0%} credible band (dark) and "
             "predictive band for new observations (light), observed points, and the "
             "population-average line (dashed).",
             plot_trajectories(table, points, ncols=3, response=fit.design.response,
                               factor=factor, units=fit.units)),
    ]


def frequentist_blocks(fit, prob: float) -> list[Block]:
    """hierlmm next to statsmodels REML/ML and OLS: table, note and coefficient plot."""
    if fit.spec.link_name != "identity":
        raise NotApplicable("the statsmodels comparison fits linear mixed models only")
    table = frequentist_comparison(fit, prob)
    lo, hi = quantile_labels(prob)
    columns = ["parameter", "hierlmm_mean", f"hierlmm_{lo}", f"hierlmm_{hi}", "reml",
               f"reml_{lo}", f"reml_{hi}", "ml", "ols"]
    blocks: list[Block] = [Table("Estimates by method (intervals: posterior for hierlmm, "
                                 "Wald for REML)", table[columns])]
    notes = sorted({str(n) for n in table["note"] if n})
    if notes:
        blocks.extend(Text(f"statsmodels: {note}", "caution") for note in notes)
    blocks.append(Plot("frequentist", "Each parameter by method: point estimate and "
                       f"{prob:.0%} interval where available (posterior for hierlmm, Wald "
                       "for REML).", plot_frequentist(table)))
    return blocks


def ppc_blocks(fit, prob: float) -> list[Block]:
    """Density overlay of replicated data and per-group means against their intervals."""
    joint = joint_posterior(fit.idata)
    total = joint.sizes["chain"] * joint.sizes["draw"]  # a small fit uses all its draws
    n_draws = min(PPC_DRAWS, total)
    y_rep = posterior_predictive(fit, n_draws=n_draws, seed=fit.seed)
    blocks: list[Block] = [Plot("ppc_density", f"Observed density of {fit.design.response} "
                                f"(dark) over {n_draws} replicated data sets.",
                                plot_ppc_density(fit.design.y, y_rep,
                                                 response=fit.design.response,
                                                 units=fit.units))]
    if fit.design.groups:
        g = max(fit.design.groups, key=lambda group: group.n_levels)
        table = ppc_group_stats(fit, "mean", seed=fit.seed, factor=g.factor, prob=prob,
                                n_draws=min(PPC_GROUP_DRAWS, total))
        extreme = int(((table["p_value"] < 0.05) | (table["p_value"] > 0.95)).sum())
        blocks.append(Plot(f"ppc_group_means_{g.factor}", f"Observed mean of each "
                           f"{g.factor} against its {prob:.0%} posterior predictive "
                           "interval.", plot_ppc_groups(table, response=fit.design.response,
                                                        units=fit.units)))
        blocks.append(Text(f"{extreme} of {len(table)} {g.factor} means have a posterior "
                           "predictive p-value outside [0.05, 0.95]."))
    return blocks


def autocorrelation_blocks(fit, prob: float) -> list[Block]:
    """AR(1)/CAR(1) fits: implied residual correlation and the empirical residual ACF."""
    if fit.design.residual.is_iid:
        raise NotApplicable("The residuals are independent (no AR(1)/CAR(1) term).")
    corr = residual_correlation(fit, prob=prob)
    lo, hi = quantile_labels(prob)
    unit = "observations" if fit.design.residual.kind == "ar1" else "time units"
    frame = corr.reset_index()[["lag", "mean", lo, hi]].round(3)
    return [
        Table(f"Implied correlation of two residuals of one series, by lag ({unit} apart).",
              frame),
        Plot("residual_acf", "Empirical autocorrelation of the within-series residuals at "
             "the posterior mean: without the AR term (grey) the residuals stay correlated; "
             "the innovations left after the AR term (blue) should be near 0 (shaded: the "
             "approximate 95% band of an uncorrelated series).",
             plot_residual_acf(residual_acf(fit), n_obs=fit.design.n)),
    ]


@dataclass(frozen=True)
class SectionSpec:
    """One report section: anchor ``key``, heading, introduction and content builder;
    ``shown(fit)`` says whether the section belongs in the report at all (default: yes)."""

    key: str
    title: str
    intro: str
    builder: Builder
    shown: Callable[..., bool] = lambda fit: True


SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec(
        "model", "Model",
        "What was fitted and how. In the formula (lme4 syntax), terms outside parentheses "
        "are fixed effects shared by all observations, and each (terms | factor) gives "
        "every level of the factor its own deviation from them. The diagnostics check that "
        "the sampler explored the posterior well: no divergent transitions, R-hat (agreement "
        "between chains) close to 1, and enough effective draws for stable estimates.",
        model_blocks),
    SectionSpec(
        "fixed", "Fixed effects",
        "Population-level effects: the average intercept and the average change in the "
        "response per unit of each predictor, across all groups. Mean and median are point "
        "estimates; the interval contains the effect with the stated posterior probability, "
        "given the model and the data.",
        fixed_blocks),
    SectionSpec(
        "variance", "Variance components and ICC",
        "How the variation of the response splits between the grouping factors and the "
        "residual (within-group) noise. The intraclass correlation (ICC) is the share of "
        "the total variance due to a factor, i.e. the correlation of two observations of "
        "the same group; the design effect says how many times larger the variance of a "
        "mean is than with the same number of independent observations.",
        variance_blocks),
    SectionSpec(
        "correlations", "Random-effect correlations",
        "Whether groups that start higher also change faster or slower: the correlation "
        "between a factor's random intercept and its random slopes. A posterior probability "
        "of a positive correlation near 0.5 means the data say little about its sign.",
        correlation_blocks),
    SectionSpec(
        "variance-curve", "Variance over the covariate",
        "With a random slope, the spread between groups depends on the covariate: groups "
        "fan out (or converge) as it changes. At each covariate value the variance of the "
        "response is split into the factor's intercept, slope and covariance parts, the "
        "other factors and the residual; the ICC curve is the factor's share.",
        variance_curve_blocks),
    SectionSpec(
        "shrinkage", "Shrinkage",
        "Group coefficients are estimated by partial pooling, a compromise between each "
        "group's own data (no pooling) and the population average (complete pooling). "
        "Groups with few or noisy observations are pulled further towards the population "
        "value. Arrows run from the own-data estimate to the model's estimate; the "
        "shrinkage column is the fraction of that distance moved (0: the group's own "
        "estimate kept, 1: the population value). With random slopes the coefficients are "
        "pulled together, through their correlation, so one fraction per group is given, "
        "measured along the arrow in the metric of the population covariance "
        "(weight_method 'mahalanobis'), and it lies between 0 and 1.",
        shrinkage_blocks),
    SectionSpec(
        "trajectories", "Group-specific trajectories",
        "Fitted lines of individual groups along the covariate of the first random slope, "
        "with the uncertainty of each group's mean line, the wider range expected for new "
        "observations of that group, the observed data and the population-average line.",
        trajectory_blocks),
    SectionSpec(
        "frequentist", "Frequentist comparison",
        "The same model fitted by restricted and full maximum likelihood (REML, ML) in "
        "statsmodels, and by ordinary least squares (OLS) ignoring the groups. With enough "
        "groups the posterior means should be close to REML; OLS standard errors are too "
        "small when observations of the same group are correlated.",
        frequentist_blocks),
    SectionSpec(
        "autocorrelation", "Residual autocorrelation",
        "With an AR(1) or CAR(1) residual, consecutive residuals of one series are "
        "correlated: phi is the correlation one observation (AR(1)) or one time unit "
        "(CAR(1)) apart, decaying as phi to the power of the lag. The pointwise "
        "log-likelihood used by LOO is each observation's one-step-ahead density given "
        "the previous one of its series.",
        autocorrelation_blocks, shown=lambda fit: not fit.design.residual.is_iid),
    SectionSpec(
        "ppc", "Posterior predictive check",
        "Data simulated from the fitted model should look like the observed data. The "
        "density plot compares the distribution of the response; the group plot compares "
        "each group's mean with the range the model predicts for it. Systematic misses "
        "point to a missing predictor, a wrong residual distribution or unusual groups.",
        ppc_blocks),
)
