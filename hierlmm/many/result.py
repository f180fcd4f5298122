"""The :class:`ManyFits` record: one model fitted to many outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from hierlmm.many.ash import adaptive_shrinkage
from hierlmm.many.labels import DIAGNOSTICS, PARTITION_STATS, STATS
from hierlmm.many.worker import ChunkResult


@dataclass(frozen=True)
class ManyFits:
    """Per-outcome summaries of one model fitted to m outcomes.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per outcome and scalar parameter (fixed effects, SDs, correlations,
        sigma): ``outcome, parameter, kind, factor, term, mean, sd, q05, q95, rhat,
        ess_bulk, p_positive, lfsr`` (``lfsr`` only for fixed effects: the local false
        sign rate of Stephens (2017), from the adaptive shrinkage of each fixed effect
        across all outcomes, :func:`hierlmm.many.ash.adaptive_shrinkage`).
    outcomes : pandas.DataFrame
        One row per outcome (index ``outcome``): ``status`` (``"ok"``/``"error"``),
        ``error``, ``seed``, ``divergences``, ``max_rhat``, ``min_ess_bulk``, ``sample_s``,
        ``rescued`` (sampled twice and pooled, see the ``min_ess`` option of
        :func:`hierlmm.fit_many`).
    variance : pandas.DataFrame
        Variance partition: ``outcome, component, mean, q05, q95`` (fractions of variance).
    draws : xarray.DataArray or None
        ``(outcome, chain, draw, parameter)`` float32 when ``keep_draws=True``:
        ``m * chains * draws * P * 4`` bytes (1,000 outcomes x 4 x 500 x 6: 48 MB).
    settings, timings : dict
    """

    table: pd.DataFrame
    outcomes: pd.DataFrame
    variance: pd.DataFrame
    draws: xr.DataArray | None
    settings: dict
    timings: dict = field(default_factory=dict)

    def effects(self, term: str) -> pd.DataFrame:
        """Fixed effect ``term`` per outcome, ranked by lfsr (most certain sign first).

        ``p_direction`` is the per-outcome posterior probability of the more likely sign.
        ``lfsr`` is the local false sign rate: the probability that the sign is wrong
        or the effect is zero, under a prior across outcomes with a point mass at zero
        (adaptive shrinkage, see :meth:`shrink`). Under the per-outcome model's
        continuous prior, ``1 - p_direction`` is a two-sided 10% test of a true null at
        a 0.05 cut-off: on the 1,000-outcome simulator (about half of the Days effects
        zero), 41 of its 426 discoveries at 0.05 had a false sign (9.6%), against 0.7%
        with the lfsr.
        """
        rows = self.table[(self.table["kind"] == "fixed") & (self.table["term"] == term)]
        if rows.empty:
            terms = sorted(self.table.loc[self.table["kind"] == "fixed", "term"].unique())
            raise KeyError(f"no fixed effect {term!r}; fixed effects: {terms}")
        rows = rows.assign(p_direction=np.maximum(rows["p_positive"], 1 - rows["p_positive"]))
        columns = ["outcome", "mean", "sd", "q05", "q95", "p_direction", "lfsr"]
        return rows[columns].sort_values(["lfsr", "outcome"]).reset_index(drop=True)

    def shrink(self, term: str) -> pd.DataFrame:
        """:meth:`effects` of ``term`` with a second level of shrinkage across outcomes.

        Adds ``ash_mean, ash_sd, lfdr`` (:func:`hierlmm.many.ash.adaptive_shrinkage`, a
        point mass at zero plus normals fitted to all outcomes; the ``lfsr`` column comes
        from the same fit); ``attrs["pi0"]`` is the estimated fraction of null effects.
        """
        table = self.effects(term).dropna(subset=["mean", "sd"])
        ash = adaptive_shrinkage(table["mean"].to_numpy(), table["sd"].to_numpy())
        out = table.assign(ash_mean=ash["ash_mean"].to_numpy(), ash_sd=ash["ash_sd"].to_numpy(),
                           lfdr=ash["lfdr"].to_numpy())
        out.attrs["pi0"] = ash.attrs["pi0"]
        return out

    def __repr__(self) -> str:
        ok = int((self.outcomes["status"] == "ok").sum())
        return (f"ManyFits({self.settings['formula']!r}: {len(self.outcomes)} outcomes, "
                f"{ok} ok, {self.timings.get('total_s', float('nan')):.1f} s)")


def assemble(
    results: Sequence[ChunkResult], names: Sequence[str], labels: list[tuple],
    components: Sequence[str], settings: dict, timings: dict,
) -> ManyFits:
    """Join chunk results (any order) into a :class:`ManyFits` in outcome order."""
    order = np.concatenate([r.indices for r in results])
    pos = np.argsort(order)
    stats = np.concatenate([r.stats for r in results])[pos]
    part = np.concatenate([r.partition for r in results])[pos]
    diag = np.concatenate([r.diagnostics for r in results])[pos]
    seeds = np.concatenate([r.seeds for r in results])[pos]
    status = np.concatenate([np.asarray(r.status, dtype=object) for r in results])[pos]
    errors = np.concatenate([np.asarray(r.errors, dtype=object) for r in results])[pos]
    names = [names[j] for j in order[pos]]
    outcomes = pd.DataFrame({"status": status, "error": errors, "seed": seeds},
                            index=pd.Index(names, name="outcome"))
    for k, column in enumerate(DIAGNOSTICS):
        outcomes[column] = diag[:, k]
    outcomes["rescued"] = outcomes["rescued"] == 1.0
    table = _table(stats, names, labels)
    variance = pd.DataFrame({
        "outcome": np.repeat(names, len(components)),
        "component": np.tile(list(components), len(names)),
        **{s: part[:, :, k].reshape(-1) for k, s in enumerate(PARTITION_STATS)},
    })
    draws = None
    if results and results[0].draws is not None:
        values = np.concatenate([r.draws for r in results])[pos]
        draws = xr.DataArray(values, dims=("outcome", "chain", "draw", "parameter"),
                             coords={"outcome": names, "parameter": [lab[0] for lab in labels]})
    return ManyFits(table, outcomes, variance, draws, settings, timings)


def _table(stats: np.ndarray, names: list[str], labels: list[tuple]) -> pd.DataFrame:
    m, n_par = stats.shape[:2]
    table = pd.DataFrame({
        "outcome": np.repeat(names, n_par),
        "parameter": np.tile([lab[0] for lab in labels], m),
        "kind": np.tile([lab[1] for lab in labels], m),
        "factor": np.tile(np.asarray([lab[2] for lab in labels], dtype=object), m),
        "term": np.tile(np.asarray([lab[3] for lab in labels], dtype=object), m),
        **{s: stats[:, :, k].reshape(-1) for k, s in enumerate(STATS)},
    })
    table["lfsr"] = np.nan
    for term in table.loc[table["kind"] == "fixed", "term"].unique():
        rows = (table["kind"] == "fixed") & (table["term"] == term) \
            & np.isfinite(table["mean"]) & (table["sd"] > 0)
        if rows.any():
            ash = adaptive_shrinkage(table.loc[rows, "mean"].to_numpy(),
                                     table.loc[rows, "sd"].to_numpy())
            table.loc[rows, "lfsr"] = ash["lfsr"].to_numpy()
    return table
