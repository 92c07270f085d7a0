"""A one-page, self-contained HTML report for stakeholders, and plain-language shift summaries.

:func:`build_report` writes one HTML file that opens without the app and without
internet: plotly's JavaScript is inlined from the installed plotly package, maps
are inline PNG (base64).
"""
from __future__ import annotations

import base64
import copy
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Sequence

import pandas as pd

from kgml_core import labels

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;padding:0 16px;max-width:1100px;color:#1B2A1F}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccd}
.meta{color:#555;font-size:.9em} table.metrics{border-collapse:collapse;font-size:.9em;margin:.5em 0}
table.metrics th,table.metrics td{border:1px solid #ccc;padding:4px 8px;text-align:right}
table.metrics th{background:#EEF3EC;text-align:left} table.metrics td.label{text-align:left}
.verdict{border-left:6px solid #707070;padding:4px 10px;margin:6px 0;background:#FAFAFA} .grid{display:flex;flex-wrap:wrap;gap:16px}
.grid figure{margin:0;flex:1 1 480px} figcaption{font-size:.85em;color:#444} img{max-width:100%}
ul.notes li{margin:.2em 0} figure.chart{margin:1em 0;width:100%}
"""


@dataclass
class ReportMap:
    """A map image: title, PNG bytes and a caption."""

    title: str
    png: bytes
    caption: str = ""


@dataclass
class ReportContent:
    """What goes into the report.

    region : the selected region in words (e.g. "Illinois, Iowa, Indiana: 293 counties").
    metrics : the metrics table (rows models or groups; columns named with units).
    maps : key maps as PNG.
    figures : plotly figures (``plotly.graph_objects.Figure``) with their titles.
    notes : plain-language findings, one sentence each.
    verdicts : (sentence, colour) pairs drawn as colour-coded lines (e.g. one per state).
    """

    title: str
    region: str
    metrics: pd.DataFrame
    maps: list[ReportMap] = field(default_factory=list)
    figures: list[tuple[str, object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = ""
    verdicts: list[tuple[str, str]] = field(default_factory=list)


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


# Streamlit's plotly template writes placeholder colours (#000001, #000002, ...) that only its own
# front end maps to real ones; in a stand-alone page they draw near-black.
_PLACEHOLDER = re.compile(r"^#0000[0-9]{2}$")


def _real_colour(value, name: str):
    if isinstance(value, str) and _PLACEHOLDER.match(value):
        return labels.colour(name)
    return value


def report_figure(fig):
    """A copy of ``fig`` fit for a stand-alone page.

    Plotly's own white template (never the app's), every placeholder colour replaced by the
    trace's colour from :mod:`kgml_core.labels`, margins that leave room for tick labels and
    axis titles (automargin), no in-figure title (the page's caption names the chart) and the
    legend below the axes.
    """
    import plotly.graph_objects as go

    out = go.Figure(copy.deepcopy(fig.to_dict()))
    for trace in out.data:
        name = trace.name or ""
        for part in ("marker", "line"):
            obj = getattr(trace, part, None)
            if obj is not None and getattr(obj, "color", None) is not None:
                obj.color = _real_colour(obj.color, name)
        if getattr(trace, "error_y", None) is not None and trace.error_y.color is not None:
            trace.error_y.color = _real_colour(trace.error_y.color, name)
    named = [t for t in out.data if t.name]
    out.update_layout(template="plotly_white", title_text="", showlegend=bool(named), height=max(int(out.layout.height or 380), 380),
                      margin=dict(l=80, r=24, t=24, b=90), autosize=True,
                      legend=dict(orientation="h", yanchor="top", y=-0.25, x=0))
    out.update_xaxes(automargin=True, title_standoff=12)
    out.update_yaxes(automargin=True, title_standoff=12)
    return out


def _figure_div(fig, div_id: str) -> str:
    return report_figure(fig).to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                                      config={"displaylogo": False, "responsive": True})


def _header(name) -> str:
    """A column or index name as a header: model identifiers become their names."""
    text = str(name)
    return labels.model_name(text) if text in labels.MODEL_NAMES else text


def metrics_html(table: pd.DataFrame) -> str:
    """The metrics table as an HTML table: numbers to 3 significant digits, human headers.

    A meaningful index (named, or not a plain 0..n-1 range) becomes the leading column(s);
    a plain range index is dropped, and the columns' own axis name is never shown as a header.
    """
    fmt = table.copy()
    plain = isinstance(fmt.index, pd.RangeIndex) and not any(fmt.index.names)
    if not plain:
        fmt = fmt.reset_index()
    fmt.columns = [_header(c) for c in fmt.columns]
    fmt.columns.name = None
    for col in fmt.columns:
        if pd.api.types.is_numeric_dtype(fmt[col]):
            fmt[col] = fmt[col].map(lambda v: "" if pd.isna(v) else f"{v:.3g}")
        else:
            fmt[col] = fmt[col].map(lambda v: _header(v) if isinstance(v, str) else v)
    return fmt.to_html(classes="metrics", border=0, escape=True, index=False)


def build_report(content: ReportContent) -> str:
    """The report as one self-contained HTML string (plotly JS inline when there are figures)."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<h1>{html.escape(content.title)}</h1>",
             f'<p class="meta">Region: {html.escape(content.region)}<br>'
             f"Source: {html.escape(content.source or 'KGML carbon dashboard')}<br>Generated {stamp}</p>"]
    if content.verdicts:
        parts.append("<h2>The answer, state by state</h2>" + "".join(
            f'<p class="verdict" style="border-left-color:{html.escape(c)}">{html.escape(t)}</p>'
            for t, c in content.verdicts))
    if content.notes:
        parts.append("<h2>Key findings</h2><ul class='notes'>"
                     + "".join(f"<li>{html.escape(n)}</li>" for n in content.notes) + "</ul>")
    parts.append("<h2>Metrics</h2>" + metrics_html(content.metrics))
    if content.maps:
        figs = "".join(
            f'<figure><img alt="{html.escape(m.title)}" src="data:image/png;base64,'
            f'{base64.b64encode(m.png).decode()}"><figcaption><b>{html.escape(m.title)}</b> '
            f"{html.escape(m.caption)}</figcaption></figure>" for m in content.maps)
        parts.append(f"<h2>Maps</h2><div class='grid'>{figs}</div>")
    head_js = ""
    if content.figures:
        head_js = f'<script type="text/javascript">{_plotly_js()}</script>'
        divs = "".join(f"<figure class='chart'><figcaption><b>{html.escape(t)}</b></figcaption>"
                       f"{_figure_div(fig, f'fig{i}')}</figure>" for i, (t, fig) in enumerate(content.figures))
        parts.append(f"<h2>Charts</h2>{divs}")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(content.title)}</title><style>{CSS}</style>{head_js}</head><body>"
            + "\n".join(parts) + "</body></html>")


def shift_summary(per_variable: pd.DataFrame, pairwise: pd.DataFrame, units: dict[str, str] | None = None,
                  top: int = 3) -> list[str]:
    """Plain-language sentences on which groups differ most and in which variables.

    Parameters
    ----------
    per_variable : :attr:`kgml_core.shift.ShiftReport.per_variable` (group_a, group_b, variable,
        mean_a, mean_b, smd, ...).
    pairwise : :attr:`~kgml_core.shift.ShiftReport.pairwise` (group_a, group_b, mmd2, p_value, auc).
    units : feature -> physical units, for the means quoted.
    """
    units = units or {}
    out: list[str] = []
    if pairwise.empty:
        return out
    ranked = pairwise.sort_values("mmd2", ascending=False)
    best = ranked.iloc[0]
    sig = "a significant" if best["p_value"] < 0.05 else "not a significant"
    out.append(f"{best['group_a']} and {best['group_b']} differ most (MMD² {best['mmd2']:.3f}, "
               f"{sig} difference at p = {best['p_value']:.3g}); a classifier tells their units apart "
               f"with AUC {best['auc']:.2f} (0.5 = indistinguishable).")
    if len(ranked) > 1:
        least = ranked.iloc[-1]
        out.append(f"{least['group_a']} and {least['group_b']} are the most alike (MMD² {least['mmd2']:.3f}).")
    key = (per_variable["group_a"] == best["group_a"]) & (per_variable["group_b"] == best["group_b"])
    rows = per_variable[key].assign(abs_smd=per_variable.loc[key, "smd"].abs())
    for _, r in rows.sort_values("abs_smd", ascending=False).head(top).iterrows():
        u = units.get(r["variable"], "")
        u = "" if u in ("", "1") else f" {u}"
        direction = "higher" if r["mean_b"] > r["mean_a"] else "lower"
        meaning = labels.glossary().get(r["variable"], "").rsplit(" (", 1)[0]
        name = f"{r['variable']} ({meaning})" if meaning else r["variable"]
        out.append(f"{name} is {direction} in {r['group_b']} than in {r['group_a']} "
                   f"({r['mean_b']:.3g}{u} against {r['mean_a']:.3g}{u}; {abs(r['smd']):.1f} pooled "
                   "standard deviations).")
    return out


def region_text(states: Sequence[str], n_counties: int, n_picked: int = 0) -> str:
    """The selected region in words."""
    picked = f", {n_picked} counties picked" if n_picked else ""
    return f"{', '.join(states)}: {n_counties} counties{picked}"
