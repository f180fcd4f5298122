"""The :class:`Fit` record: posterior DataTree, spec, design, timings and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from hierlmm.design.design import Design
from hierlmm.inference import accessors
from hierlmm.inference.diagnostics import convergence_problems, diagnostics
from hierlmm.inference.display import facts_html, facts_text, fit_facts
from hierlmm.inference.marginal import marginal_coefficients, marginal_effects
from hierlmm.inference.netcdf import write_fit
from hierlmm.inference.predict import NewGroups
from hierlmm.inference.predictions import TableKind, prediction_table
from hierlmm.inference.summary import summary_table
from hierlmm.spec.schema import ModelSpec


@dataclass(frozen=True, repr=False)
class Fit:
    """A fitted model. Frozen: fitting never changes the spec or the design.

    ``repr(fit)`` (and a notebook's rich display) shows the formula, the number of
    observations, the groups, the engine and sampler, the draws, the timings and whether
    the chains converged; the notebook display adds the rounded summary table.

    Attributes
    ----------
    idata : xarray.DataTree
        Groups ``posterior`` (``beta`` (chain, draw, fixed_term), ``sigma`` (chain, draw),
        per factor ``sd_<f>`` (chain, draw, <f>_term), ``corr_<f>`` (chain, draw, <f>_term,
        <f>_term_bis) when correlated, ``b_<f>`` (chain, draw, <f>_level, <f>_term)),
        ``sample_stats`` and, when it fits the memory budget, ``log_likelihood``
        (``y``: chain, draw, obs).
    spec : ModelSpec
    design : Design
    engine : {"sampled", "collapsed"}
    sampler : str
    seed : int
    timings : dict of str to float
        ``build_s``, ``compile_s``, ``sample_s``, ``recover_s``, ``total_s``.
    settings : dict
        ``draws``, ``tune``, ``chains``, ``target_accept``, ``na_action``, ``units``.
    """

    idata: xr.DataTree
    spec: ModelSpec
    design: Design
    engine: str
    sampler: str
    seed: int
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior draws as an ``xarray.Dataset``."""
        return self.idata["posterior"].to_dataset()

    @property
    def units(self) -> dict[str, str]:
        """Unit of each data column given as ``units=`` (e.g. ``{"Reaction": "ms"}``).

        Labels only: figures and report.html show them on their axes.
        """
        return dict(self.settings.get("units") or {})

    def summary(self, prob: float = 0.9) -> pd.DataFrame:
        """Tidy table of fixed effects, random-effect SDs and correlations, residual SD.

        See :func:`hierlmm.inference.summary.summary_table`.
        """
        return summary_table(self, prob=prob)

    def diagnostics(self) -> dict[str, float]:
        """Divergences, max R-hat and min bulk ESS over the summary parameters.

        Computed once per fit (the draws do not change); each call returns a new dict.
        See :func:`hierlmm.inference.diagnostics.diagnostics`.
        """
        return dict(self._diagnostics)

    @cached_property
    def _diagnostics(self) -> dict[str, float]:
        # cached_property writes the instance __dict__ directly, which a frozen
        # dataclass (without slots) allows; it is not a field, so eq/replace ignore it.
        return diagnostics(self)

    def fixef(self, prob: float = 0.9) -> pd.DataFrame:
        """Fixed effects: index ``term``, columns ``mean, sd, lower, upper``.

        See :func:`hierlmm.inference.accessors.fixef`.

        Examples
        --------
        >>> fit.fixef(prob=0.9).index.tolist()
        ['Intercept', 'Days']
        """
        return accessors.fixef(self, prob)

    def ranef(self, prob: float = 0.9) -> pd.DataFrame:
        """Random effects, one row per factor, level and term: ``factor, level, term, mean,
        sd, lower, upper``. See :func:`hierlmm.inference.accessors.ranef`.

        Examples
        --------
        >>> fit.ranef().shape  # 18 subjects x (Intercept, Days)
        (36, 7)
        """
        return accessors.ranef(self, prob)

    def coef(self, prob: float = 0.9) -> pd.DataFrame:
        """Fixed plus random effects per level, summed per draw, then summarised (same
        columns as :meth:`ranef`). See :func:`hierlmm.inference.accessors.coef`.

        Examples
        --------
        >>> fit.coef().query("level == '308'")["term"].tolist()
        ['Intercept', 'Days']
        """
        return accessors.coef(self, prob)

    def varcorr(self, prob: float = 0.9) -> pd.DataFrame:
        """SDs, variances and correlations per factor plus the residual, as lme4's
        ``VarCorr``. See :func:`hierlmm.inference.accessors.varcorr`.

        Examples
        --------
        >>> fit.varcorr()["statistic"].tolist()
        ['sd', 'variance', 'sd', 'variance', 'corr', 'sd', 'variance']
        """
        return accessors.varcorr(self, prob)

    def predict(
        self,
        newdata: pd.DataFrame,
        kind: TableKind = "mean",
        interval: float = 0.9,
        new_groups: NewGroups = "error",
        *,
        predictive: bool = False,
        seed: int | None = None,
    ) -> pd.DataFrame:
        """Predictions at new rows: estimate and interval per row, or tidy draws.

        Unseen grouping levels raise :class:`~hierlmm.errors.DataError` unless
        ``new_groups`` is ``"population"`` or ``"sample"``. See
        :func:`hierlmm.inference.predictions.prediction_table`.

        Examples
        --------
        >>> new = pd.DataFrame({"Days": [0.0, 9.0], "Subject": ["308", "308"]})
        >>> fit.predict(new, interval=0.9).columns.tolist()
        ['estimate', 'lower', 'upper']
        """
        return prediction_table(self, newdata, kind=kind, interval=interval,
                                new_groups=new_groups, predictive=predictive, seed=seed)

    def marginal_effects(
        self, at=None, contrast: dict | None = None, *, prob: float = 0.9,
        max_draws: int | None = 1000,
    ) -> pd.DataFrame:
        """Population-average against subject-specific means and contrasts.

        See :func:`hierlmm.inference.marginal.marginal_effects`.
        """
        return marginal_effects(self, at, contrast, prob=prob, max_draws=max_draws)

    def marginal_coefficients(
        self, *, prob: float = 0.9, max_draws: int | None = 400
    ) -> pd.DataFrame:
        """Link-scale population-average coefficients (GLMMadaptive's ``marginal_coefs``).

        See :func:`hierlmm.inference.marginal.marginal_coefficients`.
        """
        return marginal_coefficients(self, prob=prob, max_draws=max_draws)

    def save(self, path: str | Path) -> Path:
        """Write the fit to one netCDF file (no pickle); reload with :func:`hierlmm.load`."""
        return write_fit(self, path)

    def _facts(self) -> list[tuple[str, str]]:
        has_stats = "sample_stats" in self.idata.children
        problems = convergence_problems(self._diagnostics) if has_stats else None
        return fit_facts(self, problems)

    def __repr__(self) -> str:
        return facts_text(self._facts())

    def _repr_html_(self) -> str:
        return facts_html(self._facts()) + self.summary().to_rounded_html()
