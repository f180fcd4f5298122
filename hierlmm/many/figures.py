"""Figures across outcomes (pyplot-free matplotlib, as :mod:`hierlmm.plots`).

- :func:`plot_partition_bars`: variancePartition's stacked bars, one bar per outcome
  (sorted by the first random factor's fraction), at most ``max_outcomes`` bars.
- :func:`plot_partition_violins`: one violin per component, across outcomes.
- :func:`plot_volcano`: effect (posterior mean) against ``-log10(lfsr)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def _wide(variance: pd.DataFrame) -> pd.DataFrame:
    table = variance.dropna().pivot(index="outcome", columns="component", values="mean")
    order = list(dict.fromkeys(variance["component"]))
    return table[[c for c in order if c in table.columns]]


def plot_partition_bars(variance: pd.DataFrame, max_outcomes: int = 60) -> Figure:
    """Stacked bars of the mean variance fractions per outcome.

    Parameters
    ----------
    variance : pandas.DataFrame
        :attr:`hierlmm.ManyFits.variance` (``outcome, component, mean, ...``).
    max_outcomes : int
        Bars drawn (evenly spaced over the sorted outcomes when there are more).
    """
    wide = _wide(variance)
    wide = wide.sort_values(wide.columns[1] if wide.shape[1] > 2 else wide.columns[0],
                            ascending=False)
    if len(wide) > max_outcomes:
        wide = wide.iloc[np.linspace(0, len(wide) - 1, max_outcomes).round().astype(int)]
    fig = Figure(figsize=(8, 3.5))
    ax = fig.add_subplot()
    bottom = np.zeros(len(wide))
    for column in wide.columns:
        ax.bar(np.arange(len(wide)), wide[column], bottom=bottom, width=0.9, label=column)
        bottom += wide[column].to_numpy()
    ax.set_xticks(np.arange(len(wide)), wide.index, rotation=90, fontsize=6)
    ax.set_ylabel("fraction of variance")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def plot_partition_violins(variance: pd.DataFrame) -> Figure:
    """Violins of each component's mean fraction across outcomes."""
    wide = _wide(variance)
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    ax.violinplot([wide[c].to_numpy() for c in wide.columns], showmedians=True)
    ax.set_xticks(np.arange(1, wide.shape[1] + 1), wide.columns)
    ax.set_ylabel("fraction of variance")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    return fig


def plot_volcano(effects: pd.DataFrame, term: str, lfsr: float = 0.05,
                 draws: int = 2000) -> Figure:
    """Posterior mean of ``term`` against ``-log10(lfsr)`` per outcome.

    Parameters
    ----------
    effects : pandas.DataFrame
        :meth:`hierlmm.ManyFits.effects` (``outcome, mean, lfsr, ...``).
    term : str
    lfsr : float
        Threshold drawn as a line; outcomes below it are highlighted.
    draws : int
        Posterior draws per outcome (an lfsr of 0 is drawn at ``1 / draws``).
    """
    table = effects.dropna(subset=["lfsr"])
    y = -np.log10(np.maximum(table["lfsr"].to_numpy(), 1.0 / draws))
    hit = table["lfsr"].to_numpy() <= lfsr
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot()
    ax.scatter(table["mean"][~hit], y[~hit], s=6, color="0.6", label=f"lfsr > {lfsr}")
    ax.scatter(table["mean"][hit], y[hit], s=6, color="C3", label=f"lfsr <= {lfsr}")
    ax.axhline(-np.log10(lfsr), color="0.3", lw=0.8, ls="--")
    ax.set_xlabel(f"posterior mean of {term}")
    ax.set_ylabel("-log10(lfsr)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
