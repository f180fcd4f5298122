"""Files of a many-outcome batch: Parquet tables, summary.json and report.html.

``write_outputs(many, out)`` writes into ``out``:

- ``parameters.parquet``: :attr:`ManyFits.table` (outcome x parameter);
- ``outcomes.parquet``: status, error, seed and diagnostics per outcome;
- ``variance_partition.parquet``: :attr:`ManyFits.variance`;
- ``effects.parquet``: every fixed effect but the intercept ranked by lfsr (``term``
  column);
- ``summary.json``: settings, timings, counts, discoveries at lfsr 0.05 per effect and the
  median variance fraction per component;
- ``report.html``: the stacked bars, violins and one volcano plot per effect, with the
  top of each ranked table (figures embedded as PNG).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from hierlmm.many.figures import plot_partition_bars, plot_partition_violins, plot_volcano
from hierlmm.many.result import ManyFits

LFSR = 0.05


def fixed_terms(many: ManyFits) -> list[str]:
    """Fixed effects other than the intercept, in model order."""
    terms = many.table.loc[many.table["kind"] == "fixed", "term"]
    return [t for t in dict.fromkeys(terms) if t != "Intercept"]


def summary_dict(many: ManyFits) -> dict:
    """The content of summary.json (plain JSON types)."""
    ok = many.outcomes["status"] == "ok"
    effects = {}
    for term in fixed_terms(many):
        table = many.effects(term)
        effects[term] = {"discoveries_lfsr_0.05": int((table["lfsr"] <= LFSR).sum())}
    fractions = many.variance.groupby("component", sort=False)["mean"].median()
    return {
        "settings": {k: v for k, v in many.settings.items() if k != "outcomes"},
        "timings": many.timings,
        "outcomes": {"total": int(len(ok)), "ok": int(ok.sum()), "error": int((~ok).sum())},
        "diagnostics": {
            "min_ess_bulk": float(many.outcomes["min_ess_bulk"].min()),
            "max_rhat": float(many.outcomes["max_rhat"].max()),
            "divergences": int(np.nansum(many.outcomes["divergences"])),
        },
        "effects": effects,
        "median_variance_fraction": {k: float(v) for k, v in fractions.items()},
    }


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _html(many: ManyFits, summary: dict) -> str:
    draws = many.settings["draws"] * many.settings["chains"]
    parts = [f"<h1>{html.escape(many.settings['formula'])}</h1>",
             f"<p>{summary['outcomes']['ok']} of {summary['outcomes']['total']} outcomes "
             f"fitted; {summary['outcomes']['error']} failed. Total "
             f"{many.timings['total_s']:.1f} s.</p>",
             "<h2>Variance partition</h2>",
             f'<img src="data:image/png;base64,{_png(plot_partition_bars(many.variance))}">',
             f'<img src="data:image/png;base64,{_png(plot_partition_violins(many.variance))}">']
    for term in fixed_terms(many):
        table = many.effects(term)
        volcano = _png(plot_volcano(table, term, LFSR, draws))
        parts += [f"<h2>Effect of {html.escape(term)}</h2>",
                  f'<img src="data:image/png;base64,{volcano}">',
                  table.head(20).to_html(index=False, float_format=lambda v: f"{v:.3g}")]
    failed = many.outcomes[many.outcomes["status"] != "ok"]
    if len(failed):
        parts += ["<h2>Failed outcomes</h2>", failed[["error"]].to_html()]
    return "<!doctype html><html><head><meta charset='utf-8'><title>hierlmm fit-many" \
           "</title></head><body>" + "\n".join(parts) + "</body></html>"


def write_outputs(many: ManyFits, out: str | Path) -> list[Path]:
    """Write the tables, summary.json and report.html into ``out``; return the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    effects = pd.concat([many.effects(t).assign(term=t) for t in fixed_terms(many)]
                        or [pd.DataFrame()], ignore_index=True)
    frames = {"parameters.parquet": many.table, "outcomes.parquet": many.outcomes,
              "variance_partition.parquet": many.variance, "effects.parquet": effects}
    written = []
    for name, frame in frames.items():
        frame.to_parquet(out / name)
        written.append(out / name)
    summary = summary_dict(many)
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (out / "report.html").write_text(_html(many, summary), encoding="utf-8")
    return [*written, out / "summary.json", out / "report.html"]
