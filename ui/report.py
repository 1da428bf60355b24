"""A run as one self-contained HTML page to share: `nodeloom report RUN` and the app's Download buttons.

The page opens offline and asks the network for nothing: styles are inline, the pipeline diagram is
inline SVG, and the curves are plotly charts with plotly.js itself inlined. A Content-Security-Policy
forbids every fetch, so a reference that slipped in would still stay unrequested.

Every value from the run (names, parameters, dataset rows, generated text, error messages) is
untrusted: it goes through `html.escape` into element text, never into an attribute; chart data is
JSON with <, > and & escaped, so no value can close the script holding it, and chart labels are
escaped again for plotly, which reads a little HTML in them.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

from nodeloom.engine.events import RUN_STATUSES
from nodeloom.engine.node import Registry
from nodeloom.engine.store import Store
from nodeloom.ui.headlines import Headline
from nodeloom.ui.report_content import ReportContent, read_report
from nodeloom.ui.report_diagram import pipeline_svg
from nodeloom.ui.text import chart_text

POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:"
PARAMETER_CHARACTERS = 400
NUMBER_CELL = ' class="number"'
OVERRIDE_ROW = ' class="override"'
STYLE = """
body {font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2430; margin: 0;
  background: #f6f7f9;}
main {max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px;}
h1 {font-size: 26px; margin: 0 0 4px;} h2 {font-size: 19px; margin: 32px 0 10px;}
.status {display: inline-block; padding: 1px 10px; border-radius: 10px; font-weight: 600; color: #fff;
  background: #6b7280;}
.status.succeeded {background: #15803d;} .status.failed, .status.interrupted {background: #b91c1c;}
.status.running, .status.queued {background: #b45309;}
.facts {color: #4b5563; margin: 6px 0;} .facts span {display: inline-block; margin-right: 18px;}
.error {background: #fef2f2; border: 1px solid #fca5a5; color: #7f1d1d; padding: 10px 14px; border-radius: 6px;
  white-space: pre-wrap; overflow-wrap: anywhere;}
.tiles {display: flex; flex-wrap: wrap; gap: 12px;}
.tile {background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 12px 18px; min-width: 150px;}
.tile .value {font-size: 30px; font-weight: 650;} .tile .name {color: #1f2430; font-weight: 600;}
.tile .note {font-size: 12px;} .delta {font-weight: 600; color: #6b7280;} .delta.better {color: #15803d;}
.delta.worse {color: #b91c1c;}
table {border-collapse: collapse; background: #fff; width: 100%; margin-bottom: 14px;}
th, td {border: 1px solid #e5e7eb; padding: 5px 9px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; white-space: pre-wrap;}
th {background: #f1f3f6;} td.number {text-align: right; font-variant-numeric: tabular-nums;}
tr.override td {background: #fff7d6;} .badge {font-size: 12px; color: #92400e; font-weight: 600;}
.note {color: #6b7280;} .scroll {overflow-x: auto;}
.charts {display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 12px;}
.chart {background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; height: 300px;}
svg.diagram .card rect {fill: #fff; stroke: #9ca3af; stroke-width: 1.5;}
svg.diagram .card.ok rect {fill: #f0fdf4; stroke: #16a34a;}
svg.diagram .card.cached rect {fill: #eff6ff; stroke: #2563eb;}
svg.diagram .card.failed rect {fill: #fef2f2; stroke: #dc2626;}
svg.diagram .card.running rect {fill: #fffbeb; stroke: #d97706;}
svg.diagram .card-id {font-weight: 650; font-size: 14px;} svg.diagram .card-type {fill: #6b7280; font-size: 12px;}
svg.diagram .link {fill: none; stroke: #9ca3af; stroke-width: 1.6;} svg.diagram .arrowhead {fill: #9ca3af;}
"""


def number_text(value: float | None) -> str:
    """Whole numbers and large ones with separators, others to 4 significant digits."""
    if value is None:
        return "–"
    if abs(value) < 1e15 and (abs(value) >= 10_000 or float(value).is_integer()):
        return f"{value:,.0f}"
    return f"{value:.4g}"


def when(timestamp: str | None) -> str:
    return f"{timestamp[:19].replace('T', ' ')} UTC" if timestamp else "–"


def table(headers: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> str:
    """An HTML table of already escaped cells; columns in `numeric` are right-aligned."""
    head = "".join(f"<th>{header}</th>" for header in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{NUMBER_CELL * (i in numeric)}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def header_section(content: ReportContent) -> str:
    run = content.run
    name = str(content.pipeline.get("name") or run.pipeline)
    facts = [
        f"run <b>{escape(run.id)}</b>",
        f"pipeline {escape(run.pipeline)} {escape(run.version_label)}",
        f"created {when(run.created)}",
        f"started {when(run.started)}",
        f"finished {when(run.finished)}",
    ]
    facts += [f"took {run.seconds:.2f} s"] if run.seconds is not None else []
    facts += [f"on {escape(run.device)}"] if run.device else []
    facts += [f"rerun of {escape(run.rerun_of)}"] if run.rerun_of else []
    facts += [f"only up to {escape(', '.join(run.targets))}"] if run.targets else []
    facts += [] if run.use_cache else ["cache not used"]
    status_class = run.status if run.status in RUN_STATUSES else "other"  # a class name: only known words
    parts = [
        f"<h1>{escape(name)}</h1>",
        f'<p><span class="status {status_class}">{escape(run.status)}</span></p>',
        '<p class="facts">' + "".join(f"<span>{fact}</span>" for fact in facts) + "</p>",
    ]
    description = content.pipeline.get("description")
    if description:
        parts.append(f"<p>{escape(str(description))}</p>")
    if run.overrides:
        overrides = " ".join(f"--set {override}" for override in run.overrides)
        parts.append(f'<p class="facts">overrides: <code>{escape(overrides)}</code></p>')
    if run.error:
        parts.append(f'<div class="error">{escape(run.error)}</div>')
    return "".join(parts)


def change_html(card: Headline) -> str:
    """The change from the previous run, ▲/▼ and green where it is better, red where worse."""
    if card.delta is None:
        return ""
    if card.delta_color == "off":
        return f'<div class="delta">{escape(card.delta)}</div>'
    rising = card.delta.startswith("+")
    better = rising if card.delta_color == "normal" else not rising
    return f'<div class="delta {"better" if better else "worse"}">{"▲" if rising else "▼"} {escape(card.delta)}</div>'


def headline_section(content: ReportContent) -> str:
    parts = ["<h2>Headline metrics</h2>"]
    parts += [f'<p class="note">{escape(problem)}</p>' for problem in content.headline_problems]
    if not content.headlines:
        parts.append(
            '<p class="note">This run recorded no metrics.</p>'
            if not content.run.metrics
            else '<p class="note">No metric node to lead with: every number is under All metrics.</p>'
        )
        return "".join(parts)
    tiles = "".join(
        f'<div class="tile"><div class="value">{escape(card.value)}</div>{change_html(card)}'
        f'<div class="name">{escape(card.label)}</div><div class="note">{escape(card.note)}</div></div>'
        for card in content.headlines
    )
    parts.append(f'<div class="tiles">{tiles}</div>')
    if content.previous is not None:
        parts.append(
            '<p class="note">Changes are from the previous finished run of this pipeline, '
            f"{escape(content.previous.id)} ({when(content.previous.created)}).</p>"
        )
    return "".join(parts)


def diagram_section(content: ReportContent) -> str:
    statuses = {
        node_id: "cached" if node_run.cached else node_run.status for node_id, node_run in content.run.nodes.items()
    }
    return f'<h2>Pipeline</h2><div class="scroll">{pipeline_svg(content.pipeline, statuses)}</div>'


def value_text(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= PARAMETER_CHARACTERS else text[:PARAMETER_CHARACTERS] + "…"


def parameter_section(content: ReportContent) -> str:
    """Every parameter the pipeline sets (defaults it leaves out are not listed), overrides highlighted."""
    groups: list[tuple[str, str, dict[str, Any]]] = []
    settings = content.pipeline.get("settings")
    if isinstance(settings, dict) and settings:
        groups.append(("settings", "", settings))
    for raw in content.pipeline.get("nodes", []):
        if isinstance(raw, dict):
            params = raw.get("params")
            groups.append((str(raw.get("id")), str(raw.get("type", "")), params if isinstance(params, dict) else {}))
    rows = []
    for node_id, node_type, params in groups:
        label = f"<b>{escape(node_id)}</b>"
        label += f'<br><span class="note">{escape(node_type)}</span>' if node_type else ""
        if not params:
            rows.append(f'<tr><td>{label}</td><td colspan="2" class="note">defaults only</td></tr>')
        for index, (param, value) in enumerate(params.items()):
            overridden = (node_id, param) in content.overridden
            mark = ' <span class="badge">override</span>' if overridden else ""
            first = f'<td rowspan="{len(params)}">{label}</td>' if index == 0 else ""
            rows.append(
                f"<tr{OVERRIDE_ROW * overridden}>{first}<td>{escape(str(param))}{mark}</td>"
                f"<td>{escape(value_text(value))}</td></tr>"
            )
    legend = " Highlighted: set for this run by an override (<code>--set</code>)." if content.overridden else ""
    return (
        f'<h2>Parameters</h2><p class="note">As the pipeline sets them; defaults it leaves out are not listed.{legend}'
        '</p><div class="scroll"><table><thead><tr><th>node</th><th>parameter</th><th>value</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def metrics_section(content: ReportContent) -> str:
    rows = [
        [escape(node_id), escape(name), number_text(value)]
        for node_id, found in content.run.metrics.items()
        for name, value in found.items()
    ]
    if not rows:
        return '<h2>All metrics</h2><p class="note">None recorded.</p>'
    return "<h2>All metrics</h2>" + table(["node", "metric", "value"], rows, numeric=(2,))


def script_json(value: Any) -> str:
    """JSON safe inside a <script>: no value can close the element or start a comment."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for character, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028")):
        text = text.replace(character, code)
    return text.replace("\u2029", "\\u2029")


def finite(values: list[float | None]) -> list[float | None]:
    """Infinities as gaps, as the store already keeps NaN: JSON has no number for either."""
    return [value if value is None or math.isfinite(value) else None for value in values]


def curves_section(content: ReportContent) -> str:
    charts = []
    for node_id, found in content.series.items():
        for name, series in found.items():
            if len(series.steps) < 2:  # one point is no curve; its value is in the metrics table
                continue
            title = chart_text(f"{node_id} · {name}")
            data = [{"type": "scatter", "mode": "lines", "x": series.steps, "y": finite(series.values), "name": title}]
            layout = {
                "title": {"text": title},
                "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
                "xaxis": {"title": {"text": "step"}},
                "autosize": True,
            }
            chart_id = f"curve-{len(charts)}"
            charts.append(
                f'<div class="chart" id="{chart_id}"></div><script>Plotly.newPlot("{chart_id}", '
                f'{script_json(data)}, {script_json(layout)}, {{"displaylogo": false, "responsive": true}});</script>'
            )
    if not charts:
        return '<h2>Curves</h2><p class="note">This run recorded no curves.</p>'
    return f'<h2>Curves</h2><div class="charts">{"".join(charts)}</div>'


def samples_section(content: ReportContent) -> str:
    if not content.samples:
        return ""
    parts = ["<h2>Sample outputs</h2>"]
    for sample in content.samples:
        parts.append(f"<h3>{escape(sample.title)}</h3>")
        parts.append(
            table([escape(c) for c in sample.columns], [[escape(cell) for cell in row] for row in sample.rows])
        )
    return "".join(parts)


def nodes_section(content: ReportContent) -> str:
    rows = [
        [
            escape(node_id),
            escape(node_run.type or ""),
            "cached" if node_run.cached else escape(node_run.status),
            "" if node_run.seconds is None else f"{node_run.seconds:.2f}",
            escape(node_run.error or ""),
        ]
        for node_id, node_run in content.run.nodes.items()
    ]
    if not rows:
        return '<h2>Nodes</h2><p class="note">No node ran.</p>'
    return "<h2>Nodes</h2>" + table(["node", "type", "status", "seconds", "error"], rows, numeric=(3,))


def environment_section(content: ReportContent) -> str:
    rows = [[escape(name), escape(value)] for name, value in content.environment]
    return (
        "<h2>Environment</h2>"
        '<p class="note">Device and host as the run recorded them; library versions as installed where this '
        "report was made.</p>" + table(["", "version or place"], rows)
    )


def render_report(content: ReportContent) -> str:
    """The whole page, one string of HTML."""
    curves = curves_section(content)
    plotly_js = ""
    if "Plotly.newPlot" in curves:
        from plotly.offline import get_plotlyjs

        plotly_js = f"<script>{get_plotlyjs()}</script>"
    title = escape(f"{content.pipeline.get('name') or content.run.pipeline} · run {content.run.id}")
    body = "".join(
        [
            header_section(content),
            headline_section(content),
            diagram_section(content),
            parameter_section(content),
            metrics_section(content),
            curves,
            samples_section(content),
            nodes_section(content),
            environment_section(content),
        ]
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{STYLE}</style>{plotly_js}</head>"
        f'<body><main>{body}<p class="note">Made by NodeLoom.</p></main></body></html>\n'
    )


def build_report(store: Store, run_id: str, registry: Registry) -> str:
    """The report of run `run_id` as HTML (the store's NotFound when there is no such run)."""
    return render_report(read_report(store, run_id, registry))


def report_file_name(run_id: str) -> str:
    return f"nodeloom-run-{run_id}.html"
