"""The stakeholder report rendered in headless Chromium: real colours, no overlapping or clipped text.

The figures are built the way the app builds them, inside a process where Streamlit is imported
(its plotly template writes placeholder colours #000001...#000005 that only Streamlit's front end
maps to real ones): the report must still draw every bar and marker in its legend colour.
"""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import pytest
import streamlit  # noqa: F401  (sets plotly's default template to Streamlit's, as in the app)

from components import compare
from kgml_core import labels, report, verdict
from tests.components.test_compare import _metrics

OVERLAP_PX2 = 4.0  # two text boxes may touch, not overlap by more than a few square pixels


def _report(tmp_path) -> str:
    metrics = _metrics()
    long = compare.metrics_long(metrics)
    bars = compare.rmse_bars(long, "RH")
    boot = compare.bootstrap_figure(compare.bootstrap_frame(metrics), "RH")
    legacy = px.bar(pd.DataFrame({"state": ["IL", "IA"], "value": [-0.1, 0.2], "model": ["global", "no_knowledge"]}),
                    x="state", y="value", color="model", barmode="group")
    assert legacy.data[0].marker.color.startswith("#0000")  # the trap this test is about
    content = report.ReportContent(
        title="Comparison", region="IL, IA", metrics=compare.metric_table(long, "rmse").round(3),
        figures=[("RMSE by state", bars), ("Bootstrap", boot), ("Default-template bars", legacy)],
        verdicts=[(v.sentence, v.colour) for v in verdict.state_verdicts(metrics)])
    path = tmp_path / "report.html"
    path.write_text(report.build_report(content))
    return path.as_uri()


TEXT_BOXES = """() => {
  const out = [];
  document.querySelectorAll('.js-plotly-plot').forEach((plot, i) => {
    const svg = plot.querySelector('svg.main-svg').getBoundingClientRect();
    plot.querySelectorAll('svg text').forEach(t => {
      const r = t.getBoundingClientRect();
      if (r.width > 0 && r.height > 0 && t.textContent.trim())
        out.push({plot: i, text: t.textContent, x: r.left, y: r.top, w: r.width, h: r.height,
                  inside: r.left >= svg.left - 1 && r.right <= svg.right + 1 && r.top >= svg.top - 1
                          && r.bottom <= svg.bottom + 1});
    });
  });
  return out;
}"""

FILLS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot => ({
  marks: Array.from(plot.querySelectorAll('.barlayer .point path, .scatterlayer .points path'))
              .map(p => getComputedStyle(p).fill),
  legend: Array.from(plot.querySelectorAll('.legend .legendpoints path')).map(p => getComputedStyle(p).fill),
}))"""


def _overlap(a: dict, b: dict) -> float:
    dx = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    dy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(dx, 0) * max(dy, 0)


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (0, 2, 4)))


@pytest.mark.parametrize("width", [1440, 900])
def test_report_charts_have_legend_colours_and_no_overlapping_text(browser, tmp_path, artifacts_dir, width):
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(_report(tmp_path))
        page.locator(".js-plotly-plot .legend").first.wait_for(timeout=20000)
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts_dir / f"report_render_{width}.png"), full_page=True)
        for plot in page.evaluate(FILLS):
            assert plot["marks"] and plot["legend"]
            assert not [f for f in plot["marks"] + plot["legend"] if f.startswith("rgb(0, 0, ")], plot
            assert set(plot["marks"]) <= set(plot["legend"]), plot
        fills = page.evaluate(FILLS)
        assert _rgb(labels.model_colour("global")) in fills[0]["legend"]
        assert _rgb(labels.model_colour("state_specific")) in fills[0]["legend"]
        boxes = page.evaluate(TEXT_BOXES)
        assert boxes
        assert [b["text"] for b in boxes if not b["inside"]] == []  # no tick label or title cut off
        clashes = [(a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                   if a["plot"] == b["plot"] and _overlap(a, b) > OVERLAP_PX2]
        assert clashes == []
        headers = page.locator("table.metrics thead th").all_inner_texts()
        assert headers[:2] == ["state", "flux"] and "Global KGML-ag" in headers and "model" not in headers
        assert page.locator("table.metrics tbody tr").count() == 4
        verdicts = page.locator("p.verdict").all_inner_texts()
        assert len(verdicts) == 2 and verdicts[0].startswith("In Illinois the state-specific model's Rh error")
    finally:
        page.close()
