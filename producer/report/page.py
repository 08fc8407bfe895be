"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

The page also carries the report's data as JSON (``<script type="application/json"
id="report-data">``, never executed), so a reader can take the numbers from it.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from producer.report.charts import bar_chart, column_chart

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 760px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figcaption { font-weight: 600; margin-bottom: .3em; }
svg.chart text { font-size: 12px; fill: #333; } svg.chart .bar { fill: #3b73b9; }
svg.chart .axis { stroke: #999; } .muted { color: #777; }
"""


def render_html(data: dict[str, Any]) -> str:
    """The report of :meth:`Summary.data` as one HTML page."""
    batch = escape(data["batch_id"])
    payload = json.dumps(data).replace("<", "\\u003c")  # no "</script>" can end it early
    body = "".join(
        [
            f"<h1>earmark report: batch <code>{batch}</code></h1>",
            _totals(data["totals"], data["throughput"]),
            "<h2>Top-1 labels</h2>",
            bar_chart("chart-labels", "records per top-1 label", list(data["labels"].items())),
            "<h2>Scores</h2>",
            _scores(data["scores"]),
            "<h2>Errors</h2>",
            _errors(data["errors"]),
            "<h2>Completions over time</h2>",
            _completions(data["completions"]),
            "<h2>Timings</h2>",
            _timings(data["timings"], data["percentiles"]),
        ]
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>earmark report {batch}</title><style>{_STYLE}</style></head>"
        f'<body>{body}<script type="application/json" id="report-data">{payload}</script>'
        "</body></html>\n"
    )


def _cell(field: str, value: object) -> str:
    shown = "-" if value is None else escape(str(value))
    return f'<td data-field="{field}">{shown}</td>'


def _totals(totals: dict[str, Any], throughput: dict[str, Any]) -> str:
    rows = [("records", totals["records"]), ("ok", totals["ok"]), ("error", totals["error"])]
    if totals["ledger"] is not None:
        rows += [(f"ledger-{k}", v) for k, v in totals["ledger"].items()]
    rows += [(k.replace("_", "-"), v) for k, v in throughput.items()]
    cells = "".join(f"<tr><th>{escape(name)}</th>{_cell(name, v)}</tr>" for name, v in rows)
    return f'<table id="totals">{cells}</table>'


def _scores(scores: dict[str, Any]) -> str:
    counts = scores["histogram"]["counts"]
    step = 1 / len(counts)
    bins = [(f"{i * step:.2f}-{(i + 1) * step:.2f}", c) for i, c in enumerate(counts)]
    stats = "".join(_cell(f"score-{k}", scores[k]) for k in ("mean", "p50", "p95"))
    return (
        column_chart("chart-scores", "top-1 score histogram", bins, "0", "1")
        + f"<table><tr><th></th><th>mean</th><th>p50</th><th>p95</th></tr>"
        f"<tr><th>top-1 score</th>{stats}</tr></table>"
    )


def _errors(errors: dict[str, Any]) -> str:
    items = [(code, entry["count"]) for code, entry in errors.items()]
    examples = "".join(
        f'<tr><td data-field="error-code">{escape(code)}</td><td>{escape(str(e["job_id"]))}</td>'
        f'<td class="muted">{escape(e["input"])}: {escape(e["message"])}</td></tr>'
        for code, entry in errors.items()
        for e in entry["examples"]
    )
    table = f"<table><tr><th>code</th><th>job</th><th>example</th></tr>{examples}</table>"
    return bar_chart("chart-errors", "errors by code", items) + (table if examples else "")


def _completions(completions: dict[str, Any]) -> str:
    counts, width = completions["counts"], completions["bucket_s"]
    items = [(f"+{i * width} s", count) for i, count in enumerate(counts)]
    title = f"records finished per {width} s"
    first = completions["start"] or ""
    return column_chart("chart-completions", title, items, first, f"+{len(counts) * width} s")


def _timings(timings: dict[str, Any], method: str) -> str:
    rows = "".join(
        f"<tr><th>{escape(name)}</th>"
        + "".join(_cell(f"{name}-{k}", stats[k]) for k in ("count", "p50", "p95", "max"))
        + "</tr>"
        for name, stats in timings.items()
    )
    head = "<tr><th>seconds</th><th>count</th><th>p50</th><th>p95</th><th>max</th></tr>"
    return f'<table id="timings">{head}{rows}</table><p class="muted">Percentiles: {method}.</p>'
