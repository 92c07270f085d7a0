"""A one-page, self-contained HTML report for stakeholders, and plain-language shift summaries.

:func:`build_report` writes one HTML file that opens without the app and without
internet: plotly's JavaScript is inlined from the installed plotly package, maps
are inline PNG (base64).
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Sequence

import pandas as pd

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;color:#1B2A1F}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccd}
.meta{color:#555;font-size:.9em} table.metrics{border-collapse:collapse;font-size:.9em;margin:.5em 0}
table.metrics th,table.metrics td{border:1px solid #ccc;padding:4px 8px;text-align:right}
table.metrics th{background:#EEF3EC} .grid{display:flex;flex-wrap:wrap;gap:16px}
.grid figure{margin:0;flex:1 1 480px} figcaption{font-size:.85em;color:#444} img{max-width:100%}
ul.notes li{margin:.2em 0}
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
    """

    title: str
    region: str
    metrics: pd.DataFrame
    maps: list[ReportMap] = field(default_factory=list)
    figures: list[tuple[str, object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = ""


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _figure_div(fig, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def metrics_html(table: pd.DataFrame) -> str:
    """The metrics table as an HTML table (numbers rounded to 3 significant digits)."""
    fmt = table.copy()
    for col in fmt.columns:
        if pd.api.types.is_numeric_dtype(fmt[col]):
            fmt[col] = fmt[col].map(lambda v: "" if pd.isna(v) else f"{v:.3g}")
    return fmt.to_html(classes="metrics", border=0, escape=True)


def build_report(content: ReportContent) -> str:
    """The report as one self-contained HTML string (plotly JS inline when there are figures)."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<h1>{html.escape(content.title)}</h1>",
             f'<p class="meta">Region: {html.escape(content.region)}<br>'
             f"Source: {html.escape(content.source or 'KGML carbon dashboard')}<br>Generated {stamp}</p>"]
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
        divs = "".join(f"<figure>{_figure_div(fig, f'fig{i}')}<figcaption>{html.escape(t)}</figcaption></figure>"
                       for i, (t, fig) in enumerate(content.figures))
        parts.append(f"<h2>Charts</h2><div class='grid'>{divs}</div>")
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
        out.append(f"{r['variable']} is {direction} in {r['group_b']} than in {r['group_a']} "
                   f"({r['mean_b']:.3g}{u} against {r['mean_a']:.3g}{u}; {abs(r['smd']):.1f} pooled "
                   "standard deviations).")
    return out


def region_text(states: Sequence[str], n_counties: int, n_picked: int = 0) -> str:
    """The selected region in words."""
    picked = f", {n_picked} counties picked" if n_picked else ""
    return f"{', '.join(states)}: {n_counties} counties{picked}"
