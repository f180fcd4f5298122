"""``report.html``: a self-contained HTML report of a fit, with its figures as PNG files.

:func:`write_report` runs every section of :data:`hierlmm.document.figures.SECTIONS`
(then, for a GLMM, the sections of :mod:`hierlmm.document.glmm_sections`),
renders its tables with pandas and its figures as PNG (Agg canvas, no pyplot), and writes

- ``out_dir/report.html``: one file with inline CSS and every figure embedded as a
  base64 ``data:`` URI, so it opens in a browser without a server or the PNG files;
- ``out_dir/figures/<name>.png``: the same figures as files, for papers and slides.

A section that does not apply to the model (no correlated effects, no random slope)
shows a short grey note; a section that fails shows a red note with the error instead of
aborting the report, and the error (with its traceback) is logged on this module's logger.
In strict mode (``strict=True``, or the environment variable ``HIERLMM_STRICT_REPORT=1``,
which the test suite sets) a failing section raises its error instead, so tests see it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import io
import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hierlmm.document.figures import (
    SECTIONS,
    Block,
    KeyValue,
    NotApplicable,
    Plot,
    SectionSpec,
    Table,
    Text,
)
from hierlmm.document.glmm_sections import GLMM_SECTIONS, glmm_sections
from hierlmm.errors import FitError, HierlmmError
from hierlmm.report.variance import check_prob
from hierlmm.spec.units import check_units

REPORT_HTML = "report.html"
FIGURES_DIR = "figures"
DPI = 200  # PNG resolution: sharp when printed or zoomed
LAYOUT_DPI = 110  # CSS pixels per figure inch, for the page layout
HALF_WIDTH_PX = 720  # figures up to this wide (in CSS pixels) may be shown two per row
STATUSES = ("ok", "skipped", "failed")
STRICT_ENV = "HIERLMM_STRICT_REPORT"

logger = logging.getLogger(__name__)

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
       sans-serif; margin: 0; color: #1d2329; background: #f4f6f8; line-height: 1.45; }
header, nav, main, footer { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
header code { font-size: 1.05em; background: #e8ecf0; padding: 2px 6px; border-radius: 4px; }
.meta, footer { color: #5f6b76; font-size: 0.85em; }
nav ol { columns: 3; margin: 8px 0 0; padding-left: 20px; font-size: 0.92em; }
nav a { color: #1f4e79; text-decoration: none; }
nav .skipped a { color: #8a939c; }
nav .failed a { color: #c0392b; }
section { background: #fff; border: 1px solid #dde2e7; border-radius: 6px;
          padding: 14px 24px 8px; margin: 16px 0; }
h2 { font-size: 1.25em; margin: 0 0 6px; color: #1f4e79; }
h3 { font-size: 0.95em; margin: 14px 0 4px; }
p.intro { color: #3c4650; max-width: 85ch; margin-top: 0; }
.table-wrap { overflow-x: auto; margin: 0 0 12px; }
table.data, table.kv { border-collapse: collapse; font-size: 0.84em;
                       font-variant-numeric: tabular-nums; }
table.data th, table.data td { padding: 3px 9px; border-bottom: 1px solid #e3e7eb;
                               text-align: right; white-space: nowrap; }
table.data th:first-child, table.data td:first-child { text-align: left; }
table.data span.wrap { display: inline-block; white-space: normal; text-align: left;
                       min-width: 18em; max-width: 32em; }
table.data thead th { border-bottom: 2px solid #9aa4ad; background: #eef2f5; }
table.data tbody tr:nth-child(even) { background: #f8fafb; }
table.kv th { text-align: left; padding: 2px 16px 2px 0; color: #5f6b76; font-weight: 600;
              vertical-align: top; white-space: nowrap; }
table.kv td { padding: 2px 0; }
.figures { display: flex; flex-wrap: wrap; gap: 12px 16px; align-items: flex-start;
           margin: 6px 0 16px; }
.figures figure { margin: 0; flex: 0 1 auto; max-width: 100%; }
.figures figure.half { max-width: calc(50% - 8px); }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #edf0f2; }
figcaption { font-size: 0.85em; color: #5f6b76; width: 0; min-width: 100%; }
.badge { display: inline-block; padding: 5px 12px; border-radius: 4px; font-weight: 600;
         margin: 8px 0; }
.badge.ok { background: #e4f5e9; color: #1d6b34; border: 1px solid #9fd3ae; }
.badge.warning { background: #fff4df; color: #7f4e00; border: 1px solid #f0c36d; }
p.note { padding: 8px 12px; border-radius: 4px; border-left: 4px solid; }
p.note.skipped { background: #f3f4f6; border-color: #9aa0a6; color: #4f5861; }
p.note.failed { background: #fdecea; border-color: #c0392b; color: #7b1f15; }
p.note.caution { background: #fff8ec; border-color: #e0a030; color: #5c4100;
                 font-size: 0.88em; }
"""


@dataclasses.dataclass(frozen=True)
class RenderedSection:
    """One section of the page.

    Attributes
    ----------
    key, title : str
        Anchor id and heading.
    status : {"ok", "skipped", "failed"}
    body : str
        HTML inside the ``<section>`` after the heading and introduction.
    figures : tuple of Path
        PNG files written for this section.
    """

    key: str
    title: str
    status: str
    body: str
    figures: tuple[Path, ...] = ()


# ------------------------------------------------------------------------- formatting
def format_number(value: float) -> str:
    """Four significant digits (``1.000``, ``0.07748``); thousands as ``1,310``; NaN empty."""
    value = float(value)
    if not math.isfinite(value):
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    text = f"{value:#.4g}"
    return text[:-1] if text.endswith(".") else text


def format_count(value: float) -> str:
    """A count such as an effective sample size: ``"593"``, ``"4,849"``; NaN empty."""
    value = float(value)
    return f"{value:,.0f}" if math.isfinite(value) else ""


def table_html(frame: pd.DataFrame) -> str:
    """``frame`` as an HTML table (no index, formatted floats, empty cells for missing).

    Effective sample sizes (columns ending in ``ess_bulk``) are whole counts.
    """
    counts = {c: format_count for c in frame.columns if str(c).endswith("ess_bulk")}
    texts = {c: _text_cell(long=_is_long_text(frame[c])) for c in frame.columns
             if not pd.api.types.is_numeric_dtype(frame[c].dtype)}
    frame = frame.rename(columns=lambda c: html.escape(str(c)))  # escape=False below
    formatters = {html.escape(str(c)): f for c, f in {**counts, **texts}.items()}
    body = frame.to_html(index=False, classes="data", border=0, na_rep="",
                         float_format=format_number, formatters=formatters, escape=False)
    return f'<div class="table-wrap">{body}</div>'


LONG_TEXT = 40  # characters from which a text column wraps inside its cell


def _is_long_text(column: pd.Series) -> bool:
    return bool(column.map(lambda v: len(str(v)) if isinstance(v, str) else 0).max() >
                LONG_TEXT) if len(column) else False


def _text_cell(*, long: bool):
    """Formatter of a text column: escaped; long sentences wrap in a bounded cell."""
    def format_text(value) -> str:
        text = "" if value is None or (isinstance(value, float) and math.isnan(value)) \
            else html.escape(str(value))
        return f'<span class="wrap">{text}</span>' if long else text
    return format_text


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    """Render ``fig`` to PNG bytes on an Agg canvas (no pyplot)."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor=fig.get_facecolor())
    return buffer.getvalue()


def slug(name: str) -> str:
    """A file-name-safe stem: ``"shrinkage_school:class"`` -> ``"shrinkage_school-class"``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "figure"


# ------------------------------------------------------------------------------ blocks
def _text_html(block: Text) -> str:
    text = html.escape(block.text)
    if block.kind in ("ok", "warning"):
        return f'<div class="badge {block.kind}">{text}</div>'
    if block.kind == "caution":
        return f'<p class="note caution">{text}</p>'
    return f"<p>{text}</p>"


def _key_value_html(block: KeyValue) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in block.items)
    return f'<table class="kv">{rows}</table>'


def _plot_html(block: Plot, figures_dir: Path, used: set[str]) -> tuple[str, Path, bool]:
    """``<img>`` and caption of a figure, its PNG path, and whether it is narrow."""
    stem, k = slug(block.name), 2
    while stem in used:
        stem, k = f"{slug(block.name)}-{k}", k + 1
    used.add(stem)
    width_px = round(block.figure.get_figwidth() * LAYOUT_DPI)
    narrow = width_px <= HALF_WIDTH_PX
    try:
        png = figure_png(block.figure)
    finally:
        block.figure.clear()  # free the artists; the figure is in no pyplot registry
    path = figures_dir / f"{stem}.png"
    path.write_bytes(png)
    data = base64.b64encode(png).decode("ascii")
    caption = html.escape(block.caption)
    return (f'<img src="data:image/png;base64,{data}" width="{width_px}" alt="{caption}">'
            f"<figcaption>{caption}</figcaption>"), path, narrow


def _figure_row(figures: list[tuple[str, bool]]) -> str:
    """Consecutive figures in one wrapping row; two narrow neighbours share a line."""
    classes = ["wide"] * len(figures)
    i = 0
    while i < len(figures) - 1:
        if figures[i][1] and figures[i + 1][1]:
            classes[i] = classes[i + 1] = "half"
            i += 2
        else:
            i += 1
    items = "".join(f'<figure class="{c}">{inner}</figure>'
                    for (inner, _), c in zip(figures, classes, strict=True))
    return f'<div class="figures">{items}</div>'


def render_blocks(blocks: list[Block], figures_dir: Path, used: set[str]) -> tuple[str, list]:
    """HTML of a section's blocks and the PNG files written for its figures."""
    parts, files, row = [], [], []
    for block in blocks:
        if isinstance(block, Plot):
            part, path, narrow = _plot_html(block, figures_dir, used)
            row.append((part, narrow))
            files.append(path)
            continue
        if row:
            parts.append(_figure_row(row))
            row = []
        if isinstance(block, Table):
            parts.append(f"<h3>{html.escape(block.caption)}</h3>{table_html(block.frame)}")
        elif isinstance(block, KeyValue):
            parts.append(_key_value_html(block))
        else:
            parts.append(_text_html(block))
    if row:
        parts.append(_figure_row(row))
    return "\n".join(parts), files


def _free_figures(blocks: list[Block]) -> None:
    for block in blocks:
        if isinstance(block, Plot):
            block.figure.clear()


def strict_mode(strict: bool | None = None) -> bool:
    """``strict`` if given, else whether ``HIERLMM_STRICT_REPORT`` is set to ``1``/``true``."""
    if strict is not None:
        return bool(strict)
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes")


def run_section(spec: SectionSpec, fit, prob: float, figures_dir: Path,
                used: set[str], strict: bool = False) -> RenderedSection:
    """Build and render one section; a skip or an error becomes a note.

    With ``strict=True`` an error (anything but :class:`NotApplicable`) is raised instead.
    """
    blocks: list[Block] = []
    try:
        blocks = spec.builder(fit, prob)
        body, files = render_blocks(blocks, figures_dir, used)
        return RenderedSection(spec.key, spec.title, "ok", body, tuple(files))
    except NotApplicable as exc:
        note = f'<p class="note skipped">Not shown: {html.escape(str(exc))}</p>'
        return RenderedSection(spec.key, spec.title, "skipped", note)
    except Exception as exc:  # one failing section must not sink the whole report
        if strict:
            raise
        logger.warning("report section %r failed", spec.key, exc_info=True)
        reason = str(exc) if isinstance(exc, HierlmmError) else \
            f"unexpected {type(exc).__name__}: {exc}"
        note = (f'<p class="note failed">This section could not be produced: '
                f"{html.escape(reason)}</p>")
        return RenderedSection(spec.key, spec.title, "failed", note)
    finally:
        _free_figures(blocks)


# -------------------------------------------------------------------------------- page
def render_page(fit, sections: list[RenderedSection]) -> str:
    """The whole HTML document of the rendered sections."""
    formula = html.escape(fit.spec.formula)
    nav = "".join(f'<li class="{s.status}"><a href="#{s.key}">{html.escape(s.title)}</a></li>'
                  for s in sections)
    intros = {spec.key: spec.intro for spec in SECTIONS + GLMM_SECTIONS}
    body = "\n".join(
        f'<section id="{s.key}" class="status-{s.status}">\n'
        f"<h2>{html.escape(s.title)}</h2>\n"
        f'<p class="intro">{html.escape(intros.get(s.key, ""))}</p>\n{s.body}\n</section>'
        for s in sections
    )
    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>hierlmm report: {formula}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>hierlmm report</h1><p><code>{formula}</code></p>"
        f'<p class="meta">{fit.design.n} observations; {fit.engine} engine, '
        f"{html.escape(fit.sampler)} sampler, seed {fit.seed}; written {stamp}</p></header>\n"
        f"<nav><ol>{nav}</ol></nav>\n<main>\n{body}\n</main>\n"
        "<footer><p>Generated by hierlmm. Intervals are central posterior intervals; "
        "figures are also saved as PNG files in the figures/ folder.</p></footer>\n"
        "</body>\n</html>\n"
    )


def _prepare(out_dir: Path) -> Path:
    figures_dir = out_dir / FIGURES_DIR
    try:
        figures_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FitError(f"cannot create the report folder {figures_dir}: "
                       f"{exc.strerror or exc}; choose another out_dir") from exc
    return figures_dir


def build_report(fit, out_dir: str | os.PathLike[str], *, prob: float = 0.9,
                 strict: bool | None = None) -> tuple[str, list[RenderedSection]]:
    """Run every section, writing figures to ``out_dir/figures``; return the page and sections.

    Parameters
    ----------
    fit : Fit
    out_dir : path
        Folder for the ``figures/`` subfolder (created if needed).
    prob : float
        Mass of every central interval, in (0, 1).
    strict : bool, optional
        Raise a failing section's error instead of writing a note; ``None`` reads the
        environment variable ``HIERLMM_STRICT_REPORT``.

    Returns
    -------
    page : str
        The complete HTML document.
    sections : list of RenderedSection
        In :data:`hierlmm.document.figures.SECTIONS` order, each with its status.
    """
    prob = check_prob(prob)
    figures_dir = _prepare(Path(out_dir))
    used: set[str] = set()
    strict = strict_mode(strict)
    specs = SECTIONS + glmm_sections(fit)
    sections = [run_section(spec, fit, prob, figures_dir, used, strict) for spec in specs
                if spec.shown(fit)]
    return render_page(fit, sections), sections


def write_report(
    fit, out_dir: str | os.PathLike[str], *, prob: float = 0.9,
    units: Mapping[str, str] | None = None, strict: bool | None = None,
) -> Path:
    """Write ``out_dir/report.html`` and ``out_dir/figures/*.png``; return the HTML path.

    Parameters
    ----------
    fit : Fit
        The result of :func:`hierlmm.fit` (or :func:`hierlmm.load`).
    out_dir : path
        Output folder, created if needed.
    prob : float
        Mass of every central interval in tables and figures, in (0, 1).
    units : mapping of str to str, optional
        Units of data columns for the figure axes, e.g. ``{"Reaction": "ms"}``; added to
        (and overriding) the fit's own ``Fit.units``.
    strict : bool, optional
        Raise a failing section's error instead of writing a note in its place; ``None``
        (default) reads the environment variable ``HIERLMM_STRICT_REPORT`` (``1``: strict).

    Returns
    -------
    pathlib.Path
        ``out_dir/report.html``: self-contained (inline CSS, base64 PNG figures).

    Raises
    ------
    SpecError
        ``prob`` outside (0, 1).
    FitError
        The folder or a file cannot be written.
    """
    if units:
        merged = check_units({**fit.units, **units}, fit.spec)
        fit = dataclasses.replace(fit, settings={**fit.settings, "units": merged})
    page, _ = build_report(fit, out_dir, prob=prob, strict=strict)
    path = Path(out_dir) / REPORT_HTML
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise FitError(f"cannot write {path}: {exc.strerror or exc}; choose another "
                       "out_dir") from exc
    return path
